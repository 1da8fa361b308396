#!/usr/bin/env bash
# Runs every test: installs what is missing (redis-server), restores, builds, then unit and end-to-end tests.
# End-to-end tests start the whole AppHost on test ports (redis 16379, controller 18265, proxies 18000-18001).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh
dotnet build ServeAspire.sln -c Debug -nologo -v q
logs=$(mktemp -d)
status=0
for project in tests/ServeAspire.UnitTests tests/ServeAspire.EndToEndTests; do
  name=$(basename "$project")
  echo "== $name"
  dotnet test "$project" -c Debug --no-build -nologo --logger "console;verbosity=normal" 2>&1 | tee "$logs/$name.log" \
    | grep -E '^\s+(Passed|Failed|Skipped) |^\s+(Error Message|Assert|Expected|Actual)|Passed!|Failed!|Total tests' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
passed=$(grep -hoE 'Passed:\s+[0-9]+' "$logs"/*.log | awk '{s+=$2} END {print s+0}')
failed=$(grep -hoE 'Failed:\s+[0-9]+' "$logs"/*.log | awk '{s+=$2} END {print s+0}')
rm -rf "$logs"
echo "test.sh: $passed passed, $failed failed"
exit $status
