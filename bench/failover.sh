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
  echo "replicas) under open-loop load: 100 GET/s over both proxies, started on schedule whatever the answers"
  echo "take, each working 50 ms in the replica, 5 s client timeout (the proxy scenarios load one proxy; the"
  echo "unhealthy/hang ones load the 2-replica Flaky deployment); the fault is injected once the load flows."
  echo "*In flight* counts requests started before the fault and unanswered when it struck. *p99* and"
  echo "*slowest* cover the fault window: requests overlapping [fault, full strength]. *Seconds to full strength* runs"
  echo "from the fault until every replica is RUNNING again; where the scenario name says otherwise"
  echo "(DEPLOY_FAILED, leader takeover, SIGTERM to exit, config applied) it is that moment."
  echo "SleepyPid's constructor alone takes 10 s. Source: tests/ServeAspire.EndToEndTests/Failures/."
  echo "In the unhealthy and hanging-check rows the p99 is the sick replica's own 1 s delay (Flaky answers 1 s"
  echo "late until the checks catch it); the failures in the hangs-in-CallAsync row are the 408s that scenario"
  echo "expects. The update rows (user_config, rolling update, failing new version) load the 4-replica"
  echo "Configurable deployment at 50 GET/s; there the fault is the PUT and *seconds* run to the update done."
  echo "The autoscaling rows load the autoscaled Slow deployment (12 GET/s of 400 ms; the scale-from-zero row"
  echo "10 GET/s of 300 ms from 0 replicas, so its p99 is the cold start). Each scenario's asserted bounds: docs/testing.md."
  echo
  echo "| scenario | sent | failed | in flight at fault | p99 ms | slowest ms | seconds to full strength |"
  echo "|---|---|---|---|---|---|---|"
  sed -E 's/^(.+), ([^,]+), ([^,]+), ([^,]+), ([^,]+), ([^,]+), ([^,]+)$/| \1 | \2 | \3 | \4 | \5 | \6 | \7 |/' "$report"
  echo
  echo "Raw lines (\`scenario, sent, failed, in flight at fault, p99 ms, slowest ms, seconds to full strength\`):"
  echo
  echo '```'
  cat "$report"
  echo '```'
} > docs/failover.md
cat docs/failover.md
exit $status
