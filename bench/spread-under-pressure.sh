#!/usr/bin/env bash
# Runs the two even-spread end-to-end tests (SharedAppTests.Replicas_AreSpreadTwoPerNode and the
# node-kill test, which asserts 2/2/2 before it kills node-0) N times (default 5) while one core is
# kept busy by a bounded busy loop, and prints how many test runs passed and failed.
# Usage: bench/spread-under-pressure.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
./scripts/ensure-deps.sh
dotnet build ServeAspire.sln -c Debug -nologo -v q
# One core busy, bounded to 2 h, ended by its PID when this script exits.
timeout 7200 sh -c 'while :; do :; done' &
busy=$!
log=$(mktemp)
trap 'kill "$busy" 2>/dev/null || true; rm -f "$log"' EXIT
filter="FullyQualifiedName~SharedAppTests.Replicas_AreSpreadTwoPerNode|FullyQualifiedName~NodeProcessTests"
passed=0; failed=0
for i in $(seq 1 "$runs"); do
  dotnet test tests/ServeAspire.EndToEndTests -c Debug --no-build -nologo --filter "$filter" --logger "console;verbosity=normal" > "$log" 2>&1 || true
  p=$({ grep -E '^ +Passed: +[0-9]+' "$log" || echo "x 0"; } | awk '{print $2}')
  f=$({ grep -E '^ +Failed: +[0-9]+' "$log" || echo "x 0"; } | awk '{print $2}')
  [ "$p" -eq 2 ] || [ "$f" -gt 0 ] || f=$((2 - p))   # a run that crashed before its summary
  passed=$((passed + p)); failed=$((failed + f))
  echo "round $i: $p passed, $f failed (load average $(cut -d' ' -f1 /proc/loadavg))"
  grep -E '^\s+Failed |Error Message|^\s+Assert' "$log" || true
done
echo "spread-under-pressure: $runs rounds, $passed passed, $failed failed"
