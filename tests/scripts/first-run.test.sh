#!/usr/bin/env bash
# The scripts on a machine that lacks every package they install, without touching this machine: each runs
# with a PATH that holds only the tools it must find plus fakes of apt-get, sudo, dpkg, dotnet and npm that
# print chatter on stdout, as the real ones do. What is checked: stdout carries only each script's result
# (./run.sh once captured "installing: clang …" as the proxy's path), the fakes were asked to install what is
# missing, and run.sh hands the AppHost the proxy path that build-native-proxy.sh printed. TAP on stdout.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "  # $l"; done; }

# A copy of the scripts (the fakes build nothing, so no source is needed).
repo="$work/repo"
mkdir -p "$repo/scripts" "$repo/tests/k8s-validate" "$repo/tests/browser"
cp "$root/run.sh" "$root/serve" "$repo/"
cp "$root"/scripts/*.sh "$repo/scripts/"

bin="$work/bin"
mkdir -p "$bin"
# The real tools the scripts use, and nothing else (so clang, redis-server, jq, node, chromium are "missing").
for t in bash sh env cat mkdir dirname basename rm id find grep sed awk tr head tail mktemp date sleep printf test true false; do
  p=$(command -v "$t") && ln -s "$p" "$bin/$t"
done
calls="$work/calls"
fake() { printf '#!/bin/bash\n%s\n' "$2" > "$bin/$1"; chmod +x "$bin/$1"; }
fake apt-get 'echo "apt-get $*" >> '"$calls"'; echo "Reading package lists... Done"; echo "Setting up $* ..."'
fake sudo '"$@"'
fake dpkg 'exit 1'
fake npm 'echo "npm $*" >> '"$calls"'; echo "added 12 packages in 1s"'
# dotnet: build/publish chatter on stdout; "run" records its arguments (the AppHost).
fake dotnet 'echo "dotnet $*" >> '"$calls"'
case "$1" in run) printf "%s\0" "$@" > '"$work"'/apphost-args ;; *) echo "  Determining projects to restore..."; echo "Build succeeded."; echo "    0 Warning(s)" ;; esac'

run() { # name, command...: stdout to $work/out, stderr to $work/err
  (cd "$repo" && env -i PATH="$bin" HOME="$work" "$@") > "$work/out" 2> "$work/err"
}

run bash scripts/ensure-deps.sh run
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$work/out" ] && grep -q "apt-get install .*redis-server" "$calls" && ! grep -q "chromium" "$calls"; then
  ok "ensure-deps.sh run installs redis-server, not the tests' chromium, and prints nothing on stdout"
else not_ok "ensure-deps.sh run installs redis-server, not chromium (rc $rc)" "stdout: $(head -c 300 "$work/out")" "calls: $(tr '\n' ';' < "$calls")"; fi
: > "$calls"
run bash scripts/ensure-deps.sh test
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$work/out" ]; then ok "ensure-deps.sh prints nothing on stdout"
else not_ok "ensure-deps.sh prints nothing on stdout (rc $rc)" "stdout: $(head -c 300 "$work/out")" "stderr: $(tail -3 "$work/err")"; fi
if grep -q "apt-get install .*redis-server" "$calls" && grep -q "apt-get install .*chromium-headless-shell" "$calls" && grep -q "redis-tools" "$calls" &&
   [ "$(grep -c "apt-get update" "$calls")" -eq 1 ]; then
  ok "ensure-deps.sh test installs redis-server, redis-tools and chromium-headless-shell when they are missing, in one apt-get run"
else not_ok "ensure-deps.sh installs what is missing" "calls: $(tr '\n' ';' < "$calls")"; fi
: > "$calls"

run bash scripts/build-native-proxy.sh
rc=$?
expected="$repo/artifacts/proxy-native/ServeAspire.Proxy"
if [ $rc -eq 0 ] && [ "$(cat "$work/out")" = "$expected" ]; then ok "build-native-proxy.sh prints only the executable's path on stdout"
else not_ok "build-native-proxy.sh prints only the executable's path on stdout (rc $rc)" "stdout: $(head -c 300 "$work/out")"; fi
if grep -q "apt-get install .*clang.*zlib1g-dev" "$calls"; then ok "build-native-proxy.sh installs clang and zlib1g-dev when they are missing"
else not_ok "build-native-proxy.sh installs clang and zlib1g-dev" "calls: $(tr '\n' ';' < "$calls")"; fi
: > "$calls"

run bash run.sh --Serve:Nodes 3
rc=$?
given=""
if [ -f "$work/apphost-args" ]; then
  prev=""
  while IFS= read -r -d '' a; do [ "$prev" = "--Serve:ProxyExecutable" ] && given="$a"; prev="$a"; done < "$work/apphost-args"
fi
if [ $rc -eq 0 ] && [ "$given" = "$expected" ]; then
  ok "run.sh hands the AppHost the proxy path, not the install chatter"
else not_ok "run.sh hands the AppHost the proxy path (rc $rc)" "--Serve:ProxyExecutable was: $given" "stderr: $(tail -3 "$work/err")"; fi
if ! grep -q "Build succeeded" "$work/out"; then ok "run.sh keeps the build's output off stdout"
else not_ok "run.sh keeps the build's output off stdout" "stdout: $(head -c 300 "$work/out")"; fi

# ./serve on first use: builds the CLI (fake), then runs it; only the command's own output may reach stdout.
fake dotnet 'case "$1" in build) echo "Build succeeded."; mkdir -p '"$repo"'/src/Cli/bin/Debug/net10.0; : > '"$repo"'/src/Cli/bin/Debug/net10.0/ServeAspire.Cli.dll ;; *) echo "{\"applications\": {}}" ;; esac'
mkdir -p "$repo/src/Cli" "$repo/src/Shared"
run bash serve status -o json
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$work/out")" = '{"applications": {}}' ]; then ok "serve prints only its answer on stdout on first use"
else not_ok "serve prints only its answer on stdout on first use (rc $rc)" "stdout: $(head -c 300 "$work/out")"; fi

echo "1..$n"
echo "# pass $((n - failed))"
echo "# fail $failed"
[ "$failed" -eq 0 ]
