#!/usr/bin/env bash
# Runs every failure scenario (tests in Category=Failover, each on its own AppHost under 100 req/s
# of loopback load) and writes their measured lines to docs/failover.md.
# Usage: bench/failover.sh [extra dotnet test filter, e.g. "&FullyQualifiedName~Node"]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/ensure-deps.sh
dotnet build ServeAspire.sln -c Debug -nologo -v q
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
SERVE_FAILOVER_REPORT="$report" dotnet test tests/ServeAspire.EndToEndTests -c Debug --no-build -nologo \
  --filter "Category=Failover${1:-}" --logger "console;verbosity=normal" | grep -E '^\s+(Passed|Failed) |Error Message' || status=$?
{
  echo "# Failover measurements"
  echo
  echo "Written by \`bench/failover.sh\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -sr)); do not edit by hand."
  echo "Each scenario runs on its own AppHost (redis-server, 2 controllers, 2 proxies, 3 nodes, 6 SleepyPid"
  echo "replicas) under a steady 100 req/s GET load over both proxies (the proxy scenarios load one proxy;"
  echo "the unhealthy/hang ones load the 2-replica Flaky deployment); the fault is injected once the load"
  echo "flows. *p99 during fault* covers requests started after the fault. *Seconds to full strength* runs"
  echo "from the fault until every replica is RUNNING again; where the scenario name says otherwise"
  echo "(DEPLOY_FAILED, leader takeover, SIGTERM to exit, config applied) it is that moment."
  echo "SleepyPid's constructor alone takes 10 s. Source: tests/ServeAspire.EndToEndTests/Failures/."
  echo
  echo "| scenario | sent | failed | p99 ms during fault | seconds to full strength |"
  echo "|---|---|---|---|---|"
  sed -E 's/^([^,]+), ([^,]+), ([^,]+), ([^,]+), (.+)$/| \1 | \2 | \3 | \4 | \5 |/' "$report"
  echo
  echo "Raw lines (\`scenario, sent, failed, p99 ms during fault, seconds to full strength\`):"
  echo
  echo '```'
  cat "$report"
  echo '```'
} > docs/failover.md
cat docs/failover.md
exit $status
