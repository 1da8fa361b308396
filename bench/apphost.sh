# Sourced by the bench scripts: start an AppHost of its own on spare ports, wait for its six
# SleepyPid replicas, and end it (its process group, then the DCP processes that monitor it) by PID.

# start_apphost CONFIGURATION REDIS_PORT CONTROLLER_PORT PROXY_BASE_PORT CLUSTER: sets $apphost and $state.
start_apphost() {
  # A listener left on one of our ports (a process of an earlier run still draining, say) would make that
  # service fail at start and the run measure something else: wait for them to be free, then refuse.
  local port busy
  for port in "$2" "$3" "$4" "$(($4 + 1))"; do
    for _ in $(seq 60); do busy=$(ss -ltnpH "sport = :$port" 2>/dev/null); [ -z "$busy" ] && break; sleep 0.5; done
    [ -z "$busy" ] || { echo "port $port is still in use: $busy"; return 1; }
  done
  state=$(mktemp -d)
  apphost_log=$(mktemp)
  # PROXY_EXECUTABLE: the native-code proxy (scripts/build-native-proxy.sh), as ./run.sh runs it.
  setsid dotnet run --project src/AppHost -c "$1" --no-build --launch-profile http -- \
    ${PROXY_EXECUTABLE:+"Serve:ProxyExecutable=$PROXY_EXECUTABLE"} "Serve:RedisPort=$2" "Serve:ControllerPort=$3" "Serve:ProxyBasePort=$4" "Serve:StateDir=$state" "Serve:Cluster=$5" >"$apphost_log" 2>&1 &
  apphost=$!
}

dcp_of_apphost() { grep -l -- "--monitor $apphost" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true; }

# Bounded: SIGTERM to the group, then SIGKILL by PID as a last resort.
stop_apphost() {
  kill -TERM -- "-$apphost" 2>/dev/null || true
  for _ in $(seq 120); do kill -0 "$apphost" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$apphost" 2>/dev/null || true
  for _ in $(seq 120); do [ -z "$(dcp_of_apphost)" ] && break; sleep 0.5; done
  for pid in $(dcp_of_apphost); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$state" "$apphost_log"
}

# wait_for_replicas PROXY_PORT [SECONDS]: until 6 distinct PIDs answer through that proxy.
wait_for_replicas() {
  local n=0
  for _ in $(seq "${2:-120}"); do
    n=$( { for _ in $(seq 24); do curl -s --max-time 2 "127.0.0.1:$1/" || true; echo; done; } | { grep -E '^[0-9]+$' || true; } | sort -u | wc -l)
    [ "$n" -ge 6 ] && return 0; sleep 1
  done
  echo "replicas did not come up"; tail -50 "$apphost_log"; return 1
}
