#!/usr/bin/env bash
# Steady-state throughput and latency through one proxy to 6 SleepyPid replicas (loopback),
# with wrk; writes docs/throughput.md. Starts its own AppHost on spare ports and ends it by PID group.
# Usage: bench/throughput.sh [seconds=20] [connections=16]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}; conns=${2:-16}
./scripts/ensure-deps.sh
command -v wrk >/dev/null 2>&1 || { SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo; $SUDO apt-get install -y -qq wrk >/dev/null; }
dotnet build ServeAspire.sln -c Debug -nologo -v q >/dev/null
. bench/apphost.sh
start_apphost Debug 26379 28265 28000 bench
trap stop_apphost EXIT
wait_for_replicas 28000
out=$(wrk -t2 -c"$conns" -d"${seconds}s" --latency http://127.0.0.1:28000/)
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
{
  echo "# Throughput"
  echo
  echo "Written by \`bench/throughput.sh $seconds $conns\` on $(date -u +%Y-%m-%d) ($(nproc) cores, everything on one machine: wrk, redis, 2 controllers, 2 proxies, 3 nodes, 6 replicas); do not edit by hand."
  echo "GET / through proxy-0 to SleepyPid (answers its PID), ${conns} connections, ${seconds} s: **${rps} req/s**."
  echo
  echo '```'
  echo "$out"
  echo '```'
} > docs/throughput.md
cat docs/throughput.md
