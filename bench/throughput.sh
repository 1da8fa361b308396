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
state=$(mktemp -d)
log=$(mktemp)
setsid dotnet run --project src/AppHost --no-build --launch-profile http -- \
  Serve:RedisPort=26379 Serve:ControllerPort=28265 Serve:ProxyBasePort=28000 "Serve:StateDir=$state" Serve:Cluster=bench >"$log" 2>&1 &
apphost=$!
# Stop the AppHost (its process group), then wait for the DCP processes that monitor it (by its PID)
# to tear the services and replicas down; bounded, and SIGKILL by PID as a last resort.
dcp_of_apphost() { grep -l -- "--monitor $apphost" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true; }
cleanup() {
  kill -TERM -- "-$apphost" 2>/dev/null || true
  for _ in $(seq 120); do kill -0 "$apphost" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$apphost" 2>/dev/null || true
  for _ in $(seq 120); do [ -z "$(dcp_of_apphost)" ] && break; sleep 0.5; done
  for pid in $(dcp_of_apphost); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$state" "$log"
}
trap cleanup EXIT
# Wait for all 6 replicas to answer (bounded).
for _ in $(seq 120); do
  n=$( { for _ in $(seq 24); do curl -s --max-time 2 localhost:28000/ || true; echo; done; } | { grep -E '^[0-9]+$' || true; } | sort -u | wc -l)
  [ "$n" -ge 6 ] && break; sleep 1
done
[ "$n" -ge 6 ] || { echo "replicas did not come up"; exit 1; }
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
