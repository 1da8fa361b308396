#!/usr/bin/env bash
# Runs every test: installs what is missing (redis-server, chromium-headless-shell), restores, builds, then unit,
# end-to-end and browser tests.
# End-to-end tests start the whole AppHost on test ports (redis 16379, controller 18265, proxies 18000-18001).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh test
dotnet build ServeAspire.sln -c Debug -nologo -v q -clp:NoSummary >&2
# The native-code proxy ./run.sh runs: NativeProxyTests starts it (the other tests run the Debug build).
./scripts/build-native-proxy.sh >/dev/null
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
timings=()
for project in tests/ServeAspire.UnitTests tests/ServeAspire.CliTests tests/ServeAspire.KubernetesTests tests/ServeAspire.EndToEndTests; do
  name=$(basename "$project")
  echo "== $name"
  began=$SECONDS
  { dotnet test "$project" -c Debug --no-build -nologo --logger "console;verbosity=normal" 2>&1; echo $? > "$logs/$name.rc"; } \
    | tee "$logs/$name.log" \
    | awk '
        # Each test result; for a failure, its message (up to 8 lines, until the stack trace): the CI log keeps only this output.
        /^[[:space:]]+(Passed|Failed|Skipped) |(Passed|Failed)!/ { print; fflush(); n = 0; next }
        /^[[:space:]]+Error Message:/ { print; fflush(); n = 8; next }
        /^[[:space:]]+Stack Trace:/ { n = 0 }
        n > 0 { print; fflush(); n-- }' || true
  [ "$(cat "$logs/$name.rc")" -eq 0 ] || status=1
  timings+=("$name $((SECONDS - began)) s")
done
# The scripts on a machine without the packages they install (fakes on PATH): stdout holds only their results.
echo "== scripts (first run without the Debian packages)"
{ bash tests/scripts/first-run.test.sh 2>&1; echo $? > "$logs/scripts.rc"; } | tee "$logs/scripts.tap" | grep -E "^(not )?ok |^  # " || true
[ "$(cat "$logs/scripts.rc")" -eq 0 ] || status=1
# The dashboard in a real browser (tests/browser, node's test runner, TAP): it starts its own AppHost
# with the dashboard on, as ./run.sh does, so it runs after the .NET tests, never beside them.
echo "== browser (the dashboard in headless Chromium)"
{ (cd tests/browser && node --test --test-reporter=tap dashboard.test.mjs) 2>&1; echo $? > "$logs/browser.rc"; } \
  | tee "$logs/browser.tap" | grep -E "^(not )?ok |^# (pass|fail) |^ +(error|expected|actual):" || true
[ "$(cat "$logs/browser.rc")" -eq 0 ] || status=1
# Totals from each run's closing block ("Total tests: 19 / Passed: 19 / Failed: 0"; TAP's "# pass 1 / # fail 0").
count() { { grep -hE "^ +$1: +[0-9]+ *$" "$logs"/*.log || true; } | awk '{s+=$2} END {print s+0}'; }
tap() { { grep -hE "^# $1 [0-9]+$" "$logs"/*.tap || true; } | awk '{s+=$3} END {print s+0}'; }
passed=$(( $(count Passed) + $(tap pass) ))
failed=$(( $(count Failed) + $(tap fail) ))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1  # a run that crashed before its summary still fails
per_project=$(IFS=,; echo "${timings[*]}" | sed 's/,/, /g')
echo "test.sh: $passed passed, $failed failed in ${SECONDS} s ($per_project)"
exit $status
