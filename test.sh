#!/usr/bin/env bash
# Runs every test: installs what is missing (redis-server), restores, builds, then unit and end-to-end tests.
# End-to-end tests start the whole AppHost on test ports (redis 16379, controller 18265, proxies 18000-18001).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh
dotnet build ServeAspire.sln -c Debug -nologo -v q
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
status=0
for project in tests/ServeAspire.UnitTests tests/ServeAspire.KubernetesTests tests/ServeAspire.EndToEndTests; do
  name=$(basename "$project")
  echo "== $name"
  { dotnet test "$project" -c Debug --no-build -nologo --logger "console;verbosity=normal" 2>&1; echo $? > "$logs/$name.rc"; } \
    | tee "$logs/$name.log" \
    | grep --line-buffered -E '^\s+(Passed|Failed|Skipped) |^\s+(Error Message|Stack Trace)|^\s+(Assert|Expected|Actual|System\.)|(Passed|Failed)!' || true
  [ "$(cat "$logs/$name.rc")" -eq 0 ] || status=1
done
# Totals from each run's closing block ("Total tests: 19 / Passed: 19 / Failed: 0").
count() { { grep -hE "^ +$1: +[0-9]+ *$" "$logs"/*.log || true; } | awk '{s+=$2} END {print s+0}'; }
passed=$(count Passed)
failed=$(count Failed)
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1  # a run that crashed before its summary still fails
echo "test.sh: $passed passed, $failed failed"
exit $status
