#!/usr/bin/env bash
# Installs what ServeAspire needs on a fresh machine (Debian), in one apt-get run, and checks the .NET SDK.
#   ensure-deps.sh run    what ./run.sh needs: redis-server, redis-tools, jq (the README tour), clang and zlib1g-dev
#                         (the native-code proxy)
#   ensure-deps.sh test   also what ./test.sh needs: node/npm, chromium-headless-shell and the npm packages of the
#                         Kubernetes schema check and the browser test (the default)
# Progress goes to stderr, never stdout: callers capture the stdout of the scripts that call this one.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
mode=${1:-test}
case "$mode" in run|test) ;; *) echo "usage: $0 [run|test]" >&2; exit 2 ;; esac
command -v dotnet >/dev/null 2>&1 || { echo "the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)   # the native proxy's linker wants libz.so
if [ "$mode" = test ]; then
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  # The browser test (tests/browser): Debian's headless Chromium, driven by puppeteer-core (which never downloads a browser).
  command -v chromium-headless-shell >/dev/null 2>&1 || need+=(chromium-headless-shell)
fi
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
# A distribution-started redis on 6379 would clash with ours; we run our own, never the system service.
[ "$mode" = test ] || exit 0
# The Kubernetes schema validator used by the tests (npm package kubernetes-models), and the browser test's puppeteer-core.
for dir in tests/k8s-validate tests/browser; do
  [ -d "$dir/node_modules" ] || (cd "$dir" && npm ci --no-audit --no-fund --silent) >&2
done
