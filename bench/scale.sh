#!/usr/bin/env bash
# Control-plane scale. Starts, directly (no AppHost) and each in a process group of its own: one
# redis-server (password, AOF, as the AppHost runs it), two controllers (leader and standby sharing
# the API port with SO_REUSEPORT, as the AppHost runs them), two proxies and 20 simulated nodes
# (Node:Simulated: a replica is an in-process stand-in, so 1000 fit on this machine; the controller
# cannot tell). Then steps one deployment through 100 → 250 → 500 → 1000 replicas and at each step
# measures: place_s (PUT → every replica RUNNING in the controller's status and routed by both proxies),
# the controllers' CPU and Redis commands/s over 20 s of steady state, the leader's RSS, and how long
# routing changes take to reach the proxies; at the largest step also node_loss_s (kill -9 one node →
# all replicas RUNNING and routed again). The routed checks and route lags need the proxies' GET
# /-/routing; a build without it is measured from the controller's status alone (said in the output).
# Writes docs/scale.md and ends with one line of figures. Every wait is a bounded poll on a condition.
#
# Usage: bench/scale.sh
# Environment (all optional): SCALE_STEPS ("100 250 500 1000"), SCALE_NODES (20, at most 40),
#   SCALE_NODE_CAPACITY (100), SCALE_PLACE_TIMEOUT_S (300), SCALE_STEADY_S (20), SCALE_ROUTE_CHANGES (20), SCALE_WARMUP_S (30),
#   SCALE_OUT (docs/scale.md), SCALE_KEEP_LOGS (0; 1 keeps the processes' logs and prints where).
#   Controller__*/Proxy__*/Node__* variables in the environment reach those processes (e.g.
#   Controller__MaxStartingPerDeployment=64) and are listed in the report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The default Controller:MaxStartingPerDeployment (16) would pace one deployment to 16 starts a tick; stand-ins
# start at once, so here only the per-node bound paces placement (4 a node at a time: 80 a tick on 20 nodes).
export Controller__MaxStartingPerDeployment=${Controller__MaxStartingPerDeployment:-1000}
read -r -a steps <<<"${SCALE_STEPS:-100 250 500 1000}"
nodes=${SCALE_NODES:-20}
capacity=${SCALE_NODE_CAPACITY:-100}
place_timeout=${SCALE_PLACE_TIMEOUT_S:-300}
steady_s=${SCALE_STEADY_S:-20}
changes=${SCALE_ROUTE_CHANGES:-20}
warmup_s=${SCALE_WARMUP_S:-30}
out=${SCALE_OUT:-docs/scale.md}
keep_logs=${SCALE_KEEP_LOGS:-0}
[ "$nodes" -ge 2 ] && [ "$nodes" -le 40 ] || { echo "SCALE_NODES must be 2..40 (ports 48100-48139)"; exit 2; }
for tool in curl jq redis-server redis-cli ss setsid awk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is required"; exit 2; }
done
max_step=0; for n in "${steps[@]}"; do [ "$n" -gt "$max_step" ] && max_step=$n; done
[ $((nodes * capacity)) -ge "$max_step" ] || { echo "$nodes nodes x $capacity cannot hold $max_step replicas"; exit 2; }

redis_port=46379
api_port=48265
controller_ports=(48266 48267)
proxy_ports=(48000 48001)
node_ports=(); for ((i = 0; i < nodes; i++)); do node_ports+=($((48100 + i))); done
cluster=scale
app=scale
deployment=SleepyPid
route_key="$app/$deployment"

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "building Release"
dotnet build ServeAspire.sln -c Release -nologo -v q >/dev/null
bin() { echo "$root/src/$1/bin/Release/net10.0/ServeAspire.$1"; }

# A listener left on one of our ports (a process of an earlier run still draining, say) would make that
# service fail at start and the run measure something else: wait for them to be free, then refuse.
for port in "$redis_port" "$api_port" "${controller_ports[@]}" "${proxy_ports[@]}" "${node_ports[@]}"; do
  busy=""
  for _ in $(seq 60); do busy=$(ss -ltnpH "sport = :$port" 2>/dev/null); [ -z "$busy" ] && break; sleep 0.5; done
  [ -z "$busy" ] || { echo "port $port is still in use: $busy"; exit 1; }
done

work=$(mktemp -d /tmp/serve-scale.XXXXXX)
chmod 700 "$work"
groups=()      # every process group this script started (leader pid = group id), stopped on exit
declare -A pid_of

# start NAME DIR [VAR=value ...] -- COMMAND [ARG ...]: in a new session (so a process group of its own),
# from DIR (its content root, as the AppHost runs projects), logging to $work/NAME.log. Variables are
# exported in the subshell, never passed as arguments: the token and the Redis password never show in a
# command line. setsid execs in place (the subshell is no group leader), so $! is the group's id.
start() {
  local name=$1 dir=$2; shift 2
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  (
    cd "$dir"
    unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_HEADERS ASPNETCORE_URLS
    for kv in "${vars[@]}"; do export "${kv?}"; done
    exec setsid "$@"
  ) >"$work/$name.log" 2>&1 &
  pid_of[$name]=$!
  groups+=("$!")
  disown "$!" # no job notice when one is killed on purpose (the node-loss step)
}

stop_all() {
  set +e
  # Controllers first: without a leader the nodes do not wait to be drained. Redis last.
  local pid
  for pid in "${groups[@]}"; do [ "$pid" != "${pid_of[redis]:-}" ] && kill -TERM -- "-$pid" 2>/dev/null; done
  for _ in $(seq 80); do
    local alive=0
    for pid in "${groups[@]}"; do [ "$pid" != "${pid_of[redis]:-}" ] && kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.5
  done
  for pid in "${groups[@]}"; do [ "$pid" != "${pid_of[redis]:-}" ] && kill -KILL -- "-$pid" 2>/dev/null; done
  if [ -n "${pid_of[redis]:-}" ]; then
    kill -TERM -- "-${pid_of[redis]}" 2>/dev/null
    for _ in $(seq 40); do kill -0 "${pid_of[redis]}" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-${pid_of[redis]}" 2>/dev/null
  fi
  if [ "$keep_logs" = 1 ]; then rm -f "$work/redis.conf"; rm -rf "$work/redis"; echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap stop_all EXIT

secret() { head -c 33 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }
token=$(secret)
redis_password=$(secret)
export REDISCLI_AUTH=$redis_password # redis-cli reads it; never on a command line
mkdir -p "$work/redis"
(umask 077; cat >"$work/redis.conf" <<EOF
port $redis_port
bind 127.0.0.1
protected-mode yes
requirepass "$redis_password"
appendonly yes
appendfsync everysec
dir "$work/redis"
daemonize no
EOF
)
rcli() { redis-cli -p "$redis_port" --no-auth-warning "$@"; }
store="127.0.0.1:$redis_port,password=$redis_password,abortConnect=false"
common=("ConnectionStrings__redis=$store" "Controller__Cluster=$cluster" "Proxy__Cluster=$cluster" "Node__Cluster=$cluster")

# poll SECONDS INTERVAL COMMAND...: until COMMAND succeeds, at most SECONDS; fails when it never did.
poll() {
  local limit=$1 interval=$2; shift 2
  local deadline; deadline=$(awk -v t="$EPOCHREALTIME" -v l="$limit" 'BEGIN { printf "%.3f", t + l }')
  while ! "$@"; do
    awk -v t="$EPOCHREALTIME" -v d="$deadline" 'BEGIN { exit !(t < d) }' || return 1
    sleep "$interval"
  done
}
since() { awk -v t0="$1" -v t="$EPOCHREALTIME" 'BEGIN { printf "%.1f", t - t0 }'; }
http_ok() { curl -sf -o /dev/null --max-time 2 "$@"; }
api() { # METHOD PATH [curl args]: the controllers' public API, with the cluster token
  local method=$1 path=$2; shift 2
  curl -s --max-time 10 -X "$method" -H "Authorization: Bearer $token" "$@" "http://127.0.0.1:$api_port$path"
}

echo "starting redis-server, 2 controllers, 2 proxies, $nodes simulated nodes (logs in $work)"
start redis "$work" -- redis-server "$work/redis.conf"
poll 20 0.2 bash -c '[ "$(redis-cli -p '"$redis_port"' --no-auth-warning ping 2>/dev/null)" = PONG ]' || { echo "redis did not start"; tail "$work/redis.log"; exit 1; }

# start_service NAME: starts (or restarts) one service of the cluster by name; port_of NAME: where it listens.
start_service() {
  local name=$1 i=${1##*-}
  case $name in
    controller-*) start "$name" "$root/src/Controller" "${common[@]}" "SERVE_AUTH_TOKEN=$token" \
      "Controller__Url=http://127.0.0.1:$api_port" "Controller__InternalUrl=http://127.0.0.1:${controller_ports[$i]}" \
      "Controller__ExpectedNodes=$nodes" "Controller__MaxReplicas=$((max_step > 1000 ? max_step : 1000))" -- "$(bin Controller)" ;;
    proxy-*) start "$name" "$root/src/Proxy" "${common[@]}" "Proxy__Name=$name" "Proxy__Url=http://127.0.0.1:${proxy_ports[$i]}" -- "$(bin Proxy)" ;;
    node-*) start "$name" "$root/src/ReplicaHost" "${common[@]}" "SERVE_AUTH_TOKEN=$token" "Node__Id=$name" \
      "Node__Url=http://127.0.0.1:${node_ports[$i]}" "Node__Simulated=true" "Node__MaxReplicas=$capacity" -- "$(bin ReplicaHost)" ;;
  esac
}
port_of() {
  local i=${1##*-}
  case $1 in controller-*) echo "${controller_ports[$i]}" ;; proxy-*) echo "${proxy_ports[$i]}" ;; node-*) echo "${node_ports[$i]}" ;; esac
}
services=(controller-0 controller-1 proxy-0 proxy-1); for ((i = 0; i < nodes; i++)); do services+=("node-$i"); done
for name in "${services[@]}"; do start_service "$name"; done

# Our ports lie in the kernel's ephemeral range (ip_local_port_range), so another program's socket can take
# one between the check above and a bind: a service that exited at boot is started again (at most 3 times)
# once its port is free, and said in the report.
declare -A restarts
boot_notes=()
all_up() {
  local name p ok=0
  for name in "${services[@]}"; do
    kill -0 "${pid_of[$name]}" 2>/dev/null && continue
    ok=1
    [ "${restarts[$name]:-0}" -lt 3 ] || { echo "$name keeps exiting: $(grep -a -m1 -A1 -E '^(fail|crit):' "$work/$name.log" | tail -1)"; exit 1; }
    [ -z "$(ss -ltnH "sport = :$(port_of "$name")" 2>/dev/null)" ] || continue
    restarts[$name]=$(( ${restarts[$name]:-0} + 1 ))
    boot_notes+=("$name exited at boot ($(grep -a -m1 -oE '[A-Za-z.]*Exception: .*' "$work/$name.log" | cut -c1-140)); started again")
    cp "$work/$name.log" "$work/$name.exited-${restarts[$name]}.log.txt"
    start_service "$name"
  done
  [ "$ok" = 0 ] || return 1
  for p in "${controller_ports[@]}"; do http_ok "http://127.0.0.1:$p/health" || return 1; done
  for p in "${node_ports[@]}"; do http_ok "http://127.0.0.1:$p/health" || return 1; done
  for p in "${proxy_ports[@]}"; do http_ok "http://127.0.0.1:$p/-/healthz" || return 1; done # healthy once it has a routing table
}
t_boot=$EPOCHREALTIME
poll 240 0.5 all_up || { echo "not every process came up in 240 s"; for f in "$work"/*.log; do echo "== $f"; tail -5 "$f"; done; exit 1; }
boot_s=$(since "$t_boot")
echo "all processes up in ${boot_s}s"

# Which controller leads (asked of each instance directly, not through the shared port).
status_of() { curl -s --max-time 2 -H "Authorization: Bearer $token" "http://127.0.0.1:$1/api/controller/status"; }
find_leader() {
  leader=""; standby=""
  local i
  for i in 0 1; do
    if [ "$(status_of "${controller_ports[$i]}" | jq -r '.is_leader and .recovered' 2>/dev/null)" = true ]; then
      leader=${pid_of[controller-$i]}; leader_name=controller-$i; standby=${pid_of[controller-$((1 - i))]}
    fi
  done
  [ -n "$leader" ]
}
poll 60 0.5 find_leader || { echo "no controller leads"; exit 1; }
# Control-loop ticks the leader has completed (its own count): ticks/s shows how long a tick takes once it is over the 1 s period.
leader_ticks() { status_of "${controller_ports[${leader_name#controller-}]}" | jq '.ticks // 0' 2>/dev/null || echo 0; }
echo "leader: $leader_name (pid $leader)"

# Every node registered and live in the store, as the controller sees them.
nodes_registered() { [ "$(rcli hlen "serve:$cluster:nodes")" -ge "$nodes" ]; }
poll 60 0.5 nodes_registered || { echo "only $(rcli hlen "serve:$cluster:nodes") of $nodes nodes registered"; exit 1; }

# Does this proxy build answer GET /-/routing? (Today's route_prefix "/" would hand the path to a replica,
# so the answer must be the JSON described, not just any 200.)
routing_json() { curl -s --max-time 5 "http://127.0.0.1:$1/-/routing"; }
has_routing=0
if routing_json "${proxy_ports[0]}" | jq -e 'type == "object" and has("version") and has("deployments") and has("updates")' >/dev/null 2>&1; then
  has_routing=1
else
  echo "proxy has no /-/routing (old build): routed check skipped"
fi

config() { # NUM_REPLICAS
  cat <<EOF
http_options:
  host: 127.0.0.1
  port: ${proxy_ports[0]}
  request_timeout_s: 30
applications:
  - name: $app
    route_prefix: /
    import_path: Samples:SleepyPid
    deployments:
      - name: $deployment
        num_replicas: $1
        graceful_shutdown_timeout_s: 20
        graceful_shutdown_wait_loop_s: 2
        max_ongoing_requests: 5
EOF
}
put_config() { # NUM_REPLICAS: retried (bounded) while the answer is 503, which means "no leader right now, retry"
  local answer attempt
  for attempt in $(seq 20); do
    answer=$(config "$1" | api PUT /api/serve/applications/ -H "Content-Type: application/yaml" --data-binary @- -w '\n%{http_code}' || true)
    [ "$(tail -1 <<<"$answer")" = 200 ] && return 0
    [ "$(tail -1 <<<"$answer")" = 503 ] || break
    sleep 0.5
  done
  echo "PUT num_replicas=$1 refused (attempt $attempt): $answer"
  return 1
}

# The controller's view: RUNNING replicas of the deployment (optionally not on one node).
running() { # [EXCLUDED_NODE]
  api GET /api/serve/applications/ | jq --arg a "$app" --arg d "$deployment" --arg skip "${1:-}" \
    '[.applications[$a].deployments[$d].replicas[]? | select(.state == "RUNNING" and .node_id != $skip)] | length' 2>/dev/null || echo 0
}
routed() { routing_json "$1" | jq --arg k "$route_key" '.deployments[$k].replicas // 0' 2>/dev/null || echo 0; }
routing_version() { routing_json "$1" | jq '.version // 0' 2>/dev/null || echo 0; }

# placed N [EXCLUDED_NODE] [MIN_VERSION]: N RUNNING (off that node) and, with /-/routing, N routed by
# both proxies at a table newer than MIN_VERSION. Leaves the last counts in $seen.
placed() {
  local n=$1 skip=${2:-} min=${3:--1} r p v c
  r=$(running "$skip")
  seen="$r RUNNING"
  [ "$r" -eq "$n" ] || return 1
  [ "$has_routing" = 1 ] || return 0
  for p in "${proxy_ports[@]}"; do
    v=$(routing_version "$p"); c=$(routed "$p")
    seen="$seen, $c routed by :$p (v$v)"
    [ "$c" -eq "$n" ] && [ "$v" -gt "$min" ] || return 1
  done
}

hz=$(getconf CLK_TCK)
ticks() { # summed utime + stime of the given pids (dead ones count 0)
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; } # busy: user nice system irq softirq steal
pct() { awk -v d="$1" -v hz="$hz" -v s="$2" 'BEGIN { printf "%.1f", d / hz / s * 100 }'; }
redis_commands() { rcli info stats | awk -F: '/^total_commands_processed:/ { print $2 + 0 }'; }
rss_mb() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
node_pids() { local i; for ((i = 0; i < nodes; i++)); do echo "${pid_of[node-$i]}"; done; }
# CPU ticks of: leader, standby, both proxies, all nodes, redis, and the whole machine.
# shellcheck disable=SC2046
sample() { echo "$(ticks "$leader") $(ticks "$standby") $(ticks "${pid_of[proxy-0]}" "${pid_of[proxy-1]}") $(ticks $(node_pids)) $(ticks "${pid_of[redis]}") $(machine_ticks)"; }
percentile() { # P: nearest rank over numbers on stdin
  { grep . || true; } | sort -g | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } i = int(p * NR + 0.999999); if (i < 1) i = 1; printf "%.1f", v[i] }'
}

# Warm-up: the first step's replicas, placed, left for $warmup_s s, then deleted. Freshly started .NET
# processes spend their first minute compiling (tiered JIT): without this the first step's CPU is mostly that.
if [ "$warmup_s" -gt 0 ]; then
  echo "--- warm-up: ${steps[0]} replicas for ${warmup_s}s, then deleted"
  put_config "${steps[0]}"
  poll "$place_timeout" 0.5 placed "${steps[0]}" || echo "warm-up not placed in ${place_timeout}s ($seen)"
  sleep "$warmup_s" # the warm-up itself
  api DELETE /api/serve/applications/ >/dev/null
  no_apps() { [ "$(api GET /api/serve/applications/ | jq '.applications | length' 2>/dev/null)" = 0 ]; }
  poll 120 0.5 no_apps || { echo "the warm-up application was not deleted in 120 s"; exit 1; }
fi

declare -A fig
sanity=()
previous=0
for n in "${steps[@]}"; do
  echo "--- $n replicas"
  fig[$n,added]=$((n - previous)); previous=$n
  find_leader || true
  k0=$(leader_ticks)
  t0=$EPOCHREALTIME
  put_config "$n"
  if poll "$place_timeout" 0.5 placed "$n"; then
    fig[$n,place]=$(since "$t0")
    fig[$n,place_note]=""
  else
    fig[$n,place]="timeout"
    fig[$n,place_note]="not placed in ${place_timeout}s: $seen"
  fi
  fig[$n,place_ticks]=$(( $(leader_ticks) - k0 ))
  fig[$n,per_added]=$(awk -v p="${fig[$n,place]}" -v a="${fig[$n,added]}" 'BEGIN { if (p !~ /^[0-9.]+$/ || a <= 0) print "n/a"; else printf "%.3f", p / a }')
  echo "place_s=${fig[$n,place]} ($seen; ${fig[$n,place_ticks]} leader ticks)"

  if [ ${#sanity[@]} -eq 0 ]; then
    # The data path reaches the stand-ins, the node API still wants the token, /sim does not.
    body=$(curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:${proxy_ports[0]}/hello")
    sanity+=("GET proxy-0 /hello → \`$body\` (a stand-in's replica id and 200)")
    sanity+=("GET node-0 /replicas without the token → $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${node_ports[0]}/replicas") (401 expected)")
    sanity+=("GET node-0 /sim/unknown/ without the token → $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${node_ports[0]}/sim/unknown/") (404 expected)")
  fi

  # Steady state: nothing but the cluster runs (no polling from here) for $steady_s seconds.
  k0=$(leader_ticks)
  read -r c0 s0 p0 n0 d0 m0 < <(sample)
  r0=$(redis_commands); w0=$EPOCHREALTIME
  sleep "$steady_s" # the measurement window itself
  w=$(since "$w0"); r1=$(redis_commands)
  read -r c1 s1 p1 n1 d1 m1 < <(sample)
  k1=$(leader_ticks)
  fig[$n,tick_rate]=$(awk -v d=$((k1 - k0)) -v s="$w" 'BEGIN { printf "%.2f", d / s }')
  fig[$n,cpu]=$(pct $((c1 - c0)) "$w")
  fig[$n,standby]=$(pct $((s1 - s0)) "$w")
  fig[$n,proxies]=$(pct $((p1 - p0)) "$w")
  fig[$n,nodes]=$(pct $((n1 - n0)) "$w")
  fig[$n,redis_cpu]=$(pct $((d1 - d0)) "$w")
  # Whatever else ran on the machine meanwhile (other work, the kernel's share not charged to us): it competes for the cores.
  # (Clamped at 0: /proc/stat and the processes' counters are read a moment apart, so an idle rest can come out slightly negative.)
  other=$(( (m1 - m0) - (c1 - c0) - (s1 - s0) - (p1 - p0) - (n1 - n0) - (d1 - d0) ))
  fig[$n,other]=$(pct $(( other > 0 ? other : 0 )) "$w")
  fig[$n,redis]=$(awk -v d=$((r1 - r0)) -v s="$w" 'BEGIN { printf "%.0f", d / s }')
  fig[$n,rss]=$(rss_mb "$leader")
  echo "steady: leader ${fig[$n,cpu]}% standby ${fig[$n,standby]}% proxies ${fig[$n,proxies]}% nodes ${fig[$n,nodes]}% redis ${fig[$n,redis]}/s (${fig[$n,redis_cpu]}%) rss ${fig[$n,rss]} MB, ${fig[$n,tick_rate]} ticks/s; everything else ${fig[$n,other]}%"

  # Routing changes: num_replicas N-1, N, N-1, …, each waited for until both proxies route that many (so
  # each is its own routing update: changes sent faster than a tick cancel out and measure nothing), then
  # the lag of every table each proxy applied since (controller publish → proxy apply).
  fig[$n,p50]="skipped"; fig[$n,p99]="skipped"; fig[$n,updates]=""
  if [ "$has_routing" = 1 ]; then
    declare -A v0=()
    for p in "${proxy_ports[@]}"; do v0[$p]=$(routing_version "$p"); done
    both_route() { local p; for p in "${proxy_ports[@]}"; do [ "$(routed "$p")" -eq "$1" ] || return 1; done; }
    for ((k = 1; k <= changes; k++)); do
      want=$(( k % 2 == 1 ? n - 1 : n ))
      put_config "$want"
      poll 30 0.05 both_route "$want" || echo "change $k: the proxies did not route $want within 30 s"
    done
    [ $((changes % 2)) = 1 ] && put_config "$n"
    poll 120 0.5 placed "$n" || echo "after the changes: not settled in 120 s ($seen)"
    lags=$(for p in "${proxy_ports[@]}"; do routing_json "$p" | jq --argjson v "${v0[$p]}" '.updates[] | select(.version > $v) | .lag_ms' || true; done)
    fig[$n,updates]=$(grep -c . <<<"$lags" || true)
    fig[$n,p50]=$(percentile 0.50 <<<"$lags")
    fig[$n,p99]=$(percentile 0.99 <<<"$lags")
    echo "route lag over ${fig[$n,updates]} updates: p50 ${fig[$n,p50]} ms, p99 ${fig[$n,p99]} ms"
  fi
done

# Node loss at the largest step: kill -9 one node; its replicas are replaced on the others.
last=${steps[-1]}
victim=node-0
lost=$(curl -s --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:${node_ports[0]}/replicas" |
  jq '[.replicas[] | select(.state == "RUNNING")] | length')
vkill=-1
if [ "$has_routing" = 1 ]; then vkill=$(routing_version "${proxy_ports[0]}"); v1=$(routing_version "${proxy_ports[1]}"); [ "$v1" -lt "$vkill" ] && vkill=$v1; fi
echo "--- kill -9 $victim ($lost replicas)"
k0=$(leader_ticks)
t0=$EPOCHREALTIME
kill -KILL "${pid_of[$victim]}"
if poll "$place_timeout" 0.5 placed "$last" "$victim" "$vkill"; then
  node_loss=$(since "$t0"); node_loss_note="The"
else
  node_loss="timeout"; node_loss_note="Not replaced in ${place_timeout}s: $seen. The"
fi
node_loss_note="$node_loss_note leader completed $(( $(leader_ticks) - k0 )) control-loop ticks meanwhile."
# The dead node stays registered (until Controller:DeadRegistrationRetention): does the loop keep its pace?
k0=$(leader_ticks); w0=$EPOCHREALTIME
sleep 10 # the measurement window itself
after_loss_tick_rate=$(awk -v d=$(( $(leader_ticks) - k0 )) -v s="$(since "$w0")" 'BEGIN { printf "%.2f", d / s }')
echo "leader ticks/s with the dead node still registered: $after_loss_tick_rate"
node_loss_note="$node_loss_note Over the next 10 s, with the dead node still registered, it ticked $after_loss_tick_rate times a second."
echo "node_loss_s=$node_loss ($seen)"

# What the processes complained about (warnings and errors by category and event id).
complaints() { # LOG_GLOB_PREFIX
  { cat "$work"/"$1"*.log 2>/dev/null | grep -a -E '^(warn|fail|crit): ' | sed -E 's/^(warn|fail|crit): //' | sort | uniq -c | sort -rn | head -6 |
    awk '{ c = $1; $1 = ""; printf "%s×%s; ", c, $0 }'; } || true
}
declare -A complained
for kind in controller proxy node; do complained[$kind]=$(complaints "$kind"); done
example_warning() { # the most frequent warning texts (ids and numbers masked, so repeats group)
  { grep -a -h -A1 -E '^(warn|fail|crit): ' "$work"/"$1"*.log 2>/dev/null | grep -a -vE '^(warn|fail|crit): |^--$' | sed -E 's/^ +//' | cut -c1-200 |
    sed -E 's/#[a-z0-9]{8}/#…/g; s/[0-9]+(\.[0-9]+)?/N/g' | sort | uniq -c | sort -rn | head -3 | awk '{ c = $1; $1 = ""; printf "  - %s×%s\n", c, $0 }'; } || true
}

# Growth from the first step to the last, per replica: (figure at last / figure at first) / (last / first).
# 1.0 is linear in the replica count, 0 flat, above 1 faster than linear.
first=${steps[0]}
growth() { # KEY [already-per-replica]
  local a=${fig[$first,$1]} b=${fig[$last,$1]}
  awk -v a="$a" -v b="$b" -v k="$(awk -v l="$last" -v f="$first" 'BEGIN { print l / f }')" -v per="${2:-}" 'BEGIN {
    if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || a + 0 == 0) { print "n/a"; exit }
    if (per == "ratio") printf "×%.2f", b / a
    else if (per != "") printf "×%.2f (already per replica)", b / a
    else printf "×%.2f (%.2f per replica)", b / a, b / a / k }'
}

commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain --untracked-files=no)" ] && commit="$commit (with uncommitted changes)"
overrides=$(env | grep -E '^(Controller|Proxy|Node)__' | grep -vE 'Cluster=|Url=|Id=|Name=|ExpectedNodes=|MaxReplicas=|Simulated=' | sort | tr '\n' ' ' || true)
mkdir -p "$(dirname "$out")"
{
  echo "# Control-plane scale"
  echo
  echo "Written by \`bench/scale.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') ($(nproc) cores, $(uname -sr), commit $commit); do not edit by hand."
  [ -f docs/scale-before.md ] && [ "$out" != docs/scale-before.md ] && echo "The same run on the controller before its rewrite: [scale-before.md](scale-before.md)."
  echo
  echo "**Placement.** Everything on this one machine ($(nproc) cores, no pinning), each process started directly from its"
  echo "Release build (no AppHost) in a process group of its own: redis-server (:$redis_port, password, AOF everysec),"
  echo "two controllers (leader and standby, both on the API port :$api_port with SO_REUSEPORT and each on its own"
  echo "port ${controller_ports[*]}, as the AppHost runs them; \`Controller:ExpectedNodes=$nodes\`), two proxies (:${proxy_ports[*]})"
  echo "and $nodes node agents (:${node_ports[0]}-${node_ports[-1]}) with \`Node:Simulated=true\`, \`Node:MaxReplicas=$capacity\`: a replica is"
  echo "an in-process stand-in served by its node at \`/sim/{id}\` (RUNNING at once, no constructor), so the figures are"
  echo "the control plane's own cost, not replica processes'. Controller limits at their defaults unless listed here:"
  echo "${overrides:-none}. One application \`$app\`, deployment \`$deployment\` (import path Samples:SleepyPid, health_check_period_s"
  echo "at its default of 10 s). Processes up in ${boot_s} s. Leader: $leader_name. Before the steps, a warm-up: ${steps[0]} replicas"
  echo "placed and left for ${warmup_s} s, then deleted (fresh .NET processes spend their first minute compiling)."
  for note in "${boot_notes[@]}"; do echo "At boot: $note."; done
  echo
  echo "**Figures.** *place_s*: from the PUT /api/serve/applications/ to every replica RUNNING in GET /api/serve/applications/"
  if [ "$has_routing" = 1 ]; then
    echo "and routed by both proxies (their GET /-/routing), polled every 0.5 s (so ±0.5 s)."
  else
    echo "(polled every 0.5 s, so ±0.5 s). **The proxies of this build have no GET /-/routing: the routed check and the"
    echo "route lags were skipped**, so place_s here is the controller's view only."
  fi
  echo "Each step adds to the one before: *added* replicas are placed, and *s per added replica* is place_s / added."
  echo "*Ticks while placing*: the leader's control-loop ticks from the PUT to placed (a tick starts at most"
  echo "Controller:MaxStartingPerDeployment replicas of one deployment). *CPU* is % of one core over ${steady_s} s of steady state"
  echo "right after placement (utime+stime from /proc/PID/stat), with nothing polling; *redis ops/s* (INFO"
  echo "total_commands_processed) and *leader ticks/s* (below 1: a tick takes longer than the 1 s period) over the same window;"
  echo "*RSS* the leader's VmRSS after it. *Route p50/p99*: after $changes config changes (num_replicas N-1, N, …, each waited for until both proxies route it),"
  echo "the lag_ms of every routing update either proxy applied since (controller publish → proxy apply), both proxies pooled."
  echo
  echo "| replicas | added | place_s | s per added replica | leader CPU % | standby CPU % | redis ops/s | leader RSS MB | route p50 ms | route p99 ms | ticks while placing | leader ticks/s | proxies CPU % (both) | nodes CPU % (all $nodes) | redis CPU % | rest of the machine CPU % |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for n in "${steps[@]}"; do
    echo "| $n | ${fig[$n,added]} | ${fig[$n,place]} | ${fig[$n,per_added]} | ${fig[$n,cpu]} | ${fig[$n,standby]} | ${fig[$n,redis]} | ${fig[$n,rss]} | ${fig[$n,p50]} | ${fig[$n,p99]} | ${fig[$n,place_ticks]} | ${fig[$n,tick_rate]} | ${fig[$n,proxies]} | ${fig[$n,nodes]} | ${fig[$n,redis_cpu]} | ${fig[$n,other]} |"
  done
  echo "| growth $first→$last | | $(growth place) | $(growth per_added per-replica) | $(growth cpu) | $(growth standby) | $(growth redis) | $(growth rss) | $(growth p50) | $(growth p99) | $(growth place_ticks) | $(growth tick_rate ratio) | $(growth proxies) | $(growth nodes) | $(growth redis_cpu) | |"
  echo
  echo "*Growth* is (figure at $last / figure at $first) / ($last / $first): 1.00 per replica is linear in the replica count,"
  echo "0 is flat, more than 1 grows faster than the replicas do. *Rest of the machine* is all busy CPU time (/proc/stat) minus"
  echo "the cluster's processes over the same window: other work sharing the $(nproc) cores (high values make place_s and lags slower)."
  echo "Load average when the run started: $load_at_start."
  for n in "${steps[@]}"; do [ -n "${fig[$n,place_note]}" ] && echo "At $n: ${fig[$n,place_note]}."; done
  for n in "${steps[@]}"; do [ -n "${fig[$n,updates]}" ] && echo "At $n the lags cover ${fig[$n,updates]} routing updates."; done
  echo
  echo "**Node loss** at $last replicas: kill -9 $victim ($lost RUNNING replicas) → $last RUNNING again on the other nodes"
  [ "$has_routing" = 1 ] && echo "and routed by both proxies"
  echo "(polled every 0.5 s): **node_loss_s = $node_loss**. ${node_loss_note}"
  echo
  echo "**Checks.**"
  for s in "${sanity[@]}"; do echo "- $s"; done
  echo
  echo "**Warnings and errors logged** (count × category[event id]; the most frequent):"
  for kind in controller proxy node; do
    echo "- $kind: ${complained[$kind]:-none}"
    example_warning "$kind"
  done
  echo
  echo "Summary line:"
  echo
  echo '```'
  echo "replicas=$last nodes=$nodes place_s=${fig[$last,place]} steady_cpu_pct=${fig[$last,cpu]} route_p99_ms=${fig[$last,p99]} redis_ops_s=${fig[$last,redis]} node_loss_s=$node_loss"
  echo '```'
} >"$out"
echo "wrote $out"
echo "replicas=$last nodes=$nodes place_s=${fig[$last,place]} steady_cpu_pct=${fig[$last,cpu]} route_p99_ms=${fig[$last,p99]} redis_ops_s=${fig[$last,redis]} node_loss_s=$node_loss"
