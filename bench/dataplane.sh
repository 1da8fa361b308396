#!/usr/bin/env bash
# The data path side by side: the ServeAspire proxy, HAProxy and nginx in front of the same six
# SleepyPid replica processes (max_ongoing_requests 5; without ?ms= a call answers its PID at once,
# so it is the no-op deployment and the fronts' own cost shows), and one replica direct. wrk at 16,
# 64 and 256 connections; req/s, p50, p99, and each front's CPU time per request from /proc. Builds
# Release, starts its own AppHost on spare ports, and ends everything it started by PID.
# Writes docs/benchmarks.md.
# Usage: bench/dataplane.sh [seconds per run=10] [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}; rounds=${2:-3}
./scripts/ensure-deps.sh
need=()
for tool in wrk haproxy nginx; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"
dotnet build ServeAspire.sln -c Release -nologo -v q >/dev/null
dotnet build bench/yarp-floor -c Release -nologo -v q >/dev/null
PROXY_EXECUTABLE=$(./scripts/build-native-proxy.sh) # the proxy as ./run.sh runs it: native code

. bench/apphost.sh
start_apphost Release 36379 38265 38000 dataplane
haproxy_pid=""; nginx_pid=""; floor_pid=""
cleanup() {
  [ -n "$floor_pid" ] && kill -TERM "$floor_pid" 2>/dev/null || true
  [ -n "$haproxy_pid" ] && kill -TERM "$haproxy_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  stop_apphost
}
trap cleanup EXIT
wait_for_replicas 38000 180
token=$(cat "$state/auth_token")
api() { curl -s --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:38265$1"; }
replicas=$(api "/api/actors?class_name=ServeReplica:SleepyPid&state=ALIVE" | jq -r '.actors[] | "\(.pid) \(.address)"')
[ "$(echo "$replicas" | wc -l)" -eq 6 ] || { echo "expected 6 replicas: $replicas"; exit 1; }
proxy_pid=$(api "/api/actors?name=SERVE_PROXY_ACTOR-proxy-0&state=ALIVE" | jq -r '.actors[0].pid')
controller_pid=$(api "/api/controller/status" | jq -r '.pid')

# HAProxy: leastconn, maxconn per server = max_ongoing_requests (5), the same limit ServeAspire enforces.
conf=$(mktemp -d)
{
  echo "global"; echo "  maxconn 4096"
  echo "defaults"; echo "  mode http"; echo "  timeout connect 2s"; echo "  timeout client 30s"; echo "  timeout server 30s"; echo "  timeout queue 30s"
  echo "frontend fe"; echo "  bind 127.0.0.1:38100"; echo "  default_backend be"
  echo "backend be"; echo "  balance leastconn"; echo "  http-reuse always"
  i=0; while read -r _ address; do echo "  server r$i ${address#http://} maxconn 5"; i=$((i+1)); done <<<"$replicas"
} > "$conf/haproxy.cfg"
haproxy -f "$conf/haproxy.cfg" -db >/dev/null 2>&1 &
haproxy_pid=$!
# nginx: least_conn with upstream keepalive (no per-server limit: nginx has none without the commercial max_conns queue).
{
  echo "worker_processes auto; pid $conf/nginx.pid; error_log $conf/error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http { access_log off;"
  echo "  upstream replicas { least_conn; keepalive 256;"
  while read -r _ address; do echo "    server ${address#http://};"; done <<<"$replicas"
  echo "  }"
  echo "  server { listen 127.0.0.1:38101; location / { proxy_pass http://replicas; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
  echo "}"
} > "$conf/nginx.conf"
nginx -c "$conf/nginx.conf" -g "daemon off;" -p "$conf" >/dev/null 2>&1 &
nginx_pid=$!
# The floor: YARP's forwarder alone, round robin, nothing else (bench/yarp-floor): what any YARP-based proxy pays.
# shellcheck disable=SC2046
bench/yarp-floor/bin/Release/net10.0/YarpFloor http://127.0.0.1:38102 $(echo "$replicas" | cut -d' ' -f2) >/dev/null 2>&1 &
floor_pid=$!
for port in 38100 38101 38102; do
  for _ in $(seq 50); do curl -s --max-time 1 "127.0.0.1:$port/" | grep -qE '^[0-9]+$' && break; sleep 0.2; done
done
direct=$(echo "$replicas" | head -1 | cut -d' ' -f2)

# CPU ticks (utime + stime) of a process and its children's threads; nginx's master plus workers.
ticks() {
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat")))
  done
  echo "$total"
}
tree() { echo "$1"; pgrep -P "$1" || true; }
hz=$(getconf CLK_TCK)
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
idle_replica=$(rss_mb "$(echo "$replicas" | head -1 | cut -d' ' -f1)")
idle_proxy=$(rss_mb "$proxy_pid")
idle_controller=$(rss_mb "$controller_pid")

# wrk prints 759.00us / 8.27ms / 1.02s: milliseconds, for sorting and medians.
to_ms() { awk '{ v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v += 0; else if ($1 ~ /s$/) v *= 1000; printf "%.2f", v }'; }
results=$(mktemp)
measure() { # name url pids...
  local name=$1 url=$2; shift 2
  local before after out rps p50 p99 requests cpu
  before=$(ticks "$@")
  out=$(wrk -t1 -c"$conns" -d"${seconds}s" --latency "$url")
  after=$(ticks "$@")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  requests=$(echo "$out" | awk '/requests in/ {print $1}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}' | to_ms)
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}' | to_ms)
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  if [ "$#" -gt 0 ]; then cpu=$(awk -v d=$((after - before)) -v hz="$hz" -v n="$requests" 'BEGIN { printf "%.0f", d / hz / n * 1e6 }'); else cpu="–"; fi
  echo "$conns|$round|$name|$rps|$p50|$p99|$cpu|${errors:-}" >> "$results"
}
# Warm-up through each front, so no measured run pays for JIT, tiering (.NET keeps recompiling hot code for
# 20-30 s under load) or connection set-up.
for url in http://127.0.0.1:38000/ http://127.0.0.1:38100/ http://127.0.0.1:38101/ http://127.0.0.1:38102/ "$direct/"; do
  wrk -t1 -c64 -d20s "$url" >/dev/null
done
for round in $(seq "$rounds"); do
  for conns in 16 64 256; do
    measure "ServeAspire proxy-0 (native code, as ./run.sh runs it)" "http://127.0.0.1:38000/" "$proxy_pid"
    measure "HAProxy leastconn, maxconn 5 per server" "http://127.0.0.1:38100/" "$haproxy_pid"
    # shellcheck disable=SC2046
    measure "nginx least_conn, keepalive 256" "http://127.0.0.1:38101/" $(tree "$nginx_pid")
    measure "YARP forwarder alone, round robin (the floor)" "http://127.0.0.1:38102/" "$floor_pid"
    measure "one replica, direct" "$direct/"
  done
done

# Allocation profile of proxy-0 at 64 connections: the runtime's own counters (the System.Runtime meter on the proxy's
# /-/metrics: works for the native build too, where EventPipe tools such as dotnet-counters have nothing to attach to),
# read before and after one more run; bytes and gen0 collections per request.
runtime_counters() { curl -s --max-time 5 http://127.0.0.1:38000/-/metrics | awk '
  /^dotnet_gc_heap_total_allocated_bytes_total/ { bytes = $NF } /^dotnet_gc_collections_total/ && /gen0/ { gen0 = $NF }
  END { printf "%.0f %.0f\n", bytes, gen0 }'; }
read -r bytes0 gen00 < <(runtime_counters)
out=$(wrk -t1 -c64 -d"${seconds}s" "http://127.0.0.1:38000/")
read -r bytes1 gen01 < <(runtime_counters)
profile_requests=$(echo "$out" | awk '/requests in/ {print $1}')
profile_rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
profile=$(awk -v b=$((bytes1 - bytes0)) -v g=$((gen01 - gen00)) -v n="$profile_requests" -v rps="$profile_rps" \
  'BEGIN { if (n + 0 == 0 || b <= 0) print "no samples"; else printf "%.0f bytes allocated per request, %.1f gen0 collections per 10,000 requests (%d requests, %.0f req/s)", b / n, g / n * 10000, n, rps }')

# Where a process's resident memory goes (/proc/PID/smaps): JIT-compiled code (the runtime's double-mapped
# executable memory), anonymous memory (GC heap, native allocations, stacks), and mapped files (the runtime,
# assemblies). After the load above.
memory_of() {
  awk '/^[0-9a-f]+-/ { name = $6 } /^Rss:/ { if (name ~ /doublemapper/) jit += $2; else if (name == "" || name ~ /^\[/) anon += $2; else file += $2 }
    END { printf "%.0f MB: JIT code %.0f, anonymous %.0f, mapped files %.0f", (jit + anon + file) / 1024, jit / 1024, anon / 1024, file / 1024 }' "/proc/$1/smaps"
}
memory_proxy=$(memory_of "$proxy_pid")
memory_replica=$(memory_of "$(echo "$replicas" | head -1 | cut -d' ' -f1)")

{
  echo "# Data-path benchmarks"
  echo
  echo "Written by \`bench/dataplane.sh $seconds $rounds\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -sr)); do not edit by hand."
  echo "Everything on one machine, nothing pinned (with 2 cores, pinning wrk to one would leave the front and six"
  echo "replicas one core): wrk (\`-t1\`, ${seconds} s per run, ${rounds} round(s), fronts interleaved), the fronts, six"
  echo "SleepyPid replica processes (Release; a call answers the PID at once: the no-op deployment) behind all of them,"
  echo "plus the rest of the system idling (redis, 2 controllers, 2 proxies, 3 nodes). CPU per request is the front's own"
  echo "user+system time from /proc over the run, divided by the requests wrk completed. HAProxy $(haproxy -v | head -1 | awk '{print $3}'),"
  echo "nginx $(nginx -v 2>&1 | cut -d/ -f2), all with their default thread/worker counts. The floor is YARP's IHttpForwarder"
  echo "alone (\`bench/yarp-floor\`: round robin, no tracing, limits, retries or logs): what any proxy built on YARP pays here."
  echo
  echo "Idle resident memory: a replica process ${idle_replica} MB, a proxy ${idle_proxy} MB, a controller ${idle_controller} MB."
  echo "After the runs: proxy-0 ${memory_proxy}; a replica ${memory_replica}."
  echo
  echo "Allocation profile of proxy-0 at 64 connections (the System.Runtime meter on its /-/metrics, before and after one more run): ${profile}."
  echo
  echo "Medians over the rounds:"
  echo
  echo "| connections | front | req/s | p50 ms | p99 ms | front CPU µs/request |"
  echo "|---|---|---|---|---|---|"
  # conns|round|front|rps|p50|p99|cpu|errors → the median of each column per (conns, front), in run order.
  awk -F'|' '
    function median(list,   n, a, i, j, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return a[int((n + 1) / 2)] }
    { k = $1 "|" $3; if (!(k in seen)) { seen[k] = 1; order[++count] = k } rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $6; cpu[k] = cpu[k] " " $7 }
    END { for (i = 1; i <= count; i++) { k = order[i]; split(k, f, "|"); printf "| %s | %s | %.0f | %s | %s | %s |\n", f[1], f[2], median(rps[k]), median(p50[k]), median(p99[k]), median(cpu[k]) } }' "$results"
  echo
  echo "Every run:"
  echo
  echo "| connections | round | front | req/s | p50 ms | p99 ms | front CPU µs/request | errors |"
  echo "|---|---|---|---|---|---|---|---|"
  sed 's/|/ | /g; s/^/| /; s/$/ |/' "$results"
} > docs/benchmarks.md
rm -rf "$conf" "$results"
cat docs/benchmarks.md
