#!/usr/bin/env bash
# A Gatehouse cluster on this machine's loopback: redis-server, a control plane and three
# gateways, as separate processes that share Redis the way pods do.
#
#   deploy/local-cluster.sh              build, start, wait until all are ready, print how to use
#                                        them; Ctrl-C stops everything
#   deploy/local-cluster.sh start -d     the same, but return and leave the cluster running
#   deploy/local-cluster.sh status       which processes run, and whether they are ready
#   deploy/local-cluster.sh stop         stop a cluster started with -d
#
# Needs cargo, redis-server and curl. Settings, from the environment:
#   LOCAL_CLUSTER_DIR   state, logs and pid files (default: target/local-cluster)
#   PROFILE             debug (default) or release. Debug because it builds in a fraction of the
#                       time and shares its artefacts with `cargo build`/`cargo test`; the
#                       password hashing is optimised even there (Cargo.toml). Use release to
#                       measure performance.
#   REDIS_PORT (6380), CONTROL_PLANE_PORT (7070), GATEWAY_PORTS ("8080 8081 8082")
#   ADMIN_SECRET        default: the README's quickstart secret, so its curl lines work as given
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${LOCAL_CLUSTER_DIR:-target/local-cluster}"
PROFILE="${PROFILE:-debug}"
REDIS_PORT="${REDIS_PORT:-6380}"
CONTROL_PLANE_PORT="${CONTROL_PLANE_PORT:-7070}"
read -r -a GATEWAY_PORTS <<<"${GATEWAY_PORTS:-8080 8081 8082}"
ADMIN_SECRET="${ADMIN_SECRET:-local-dev-admin-secret-0123456789abcdef}"

LOGS="$DIR/logs"
PIDS="$DIR/pids"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
CONTROL_PLANE_URL="http://127.0.0.1:$CONTROL_PLANE_PORT"

say() { printf 'local-cluster: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}

# The pid in $PIDS/<name>.pid, if that process still runs the program it was started as (a pid
# file can outlive its process, and the pid be reused by something else).
live_pid() {
  local file="$PIDS/$1.pid" pid
  [ -f "$file" ] || return 1
  pid="$(cat "$file")"
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qE 'gatehouse|redis-server' || return 1
  echo "$pid"
}

# Every process of the cluster, in stopping order: gateways first (they drain), Redis last.
names() {
  local i
  for i in "${!GATEWAY_PORTS[@]}"; do echo "gateway-$((i + 1))"; done
  echo control-plane
  echo redis
}

# Stops the gateways together (each drains), then the control plane, then Redis.
stop_all() {
  local stage name pid deadline pids entry
  for stage in gateway control-plane redis; do
    pids=()
    for name in $(names); do
      [[ "$name" == "$stage"* ]] || continue
      if pid="$(live_pid "$name")"; then
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$name:$pid")
      fi
      rm -f "$PIDS/$name.pid"
    done
    deadline=$((SECONDS + 30))
    for entry in "${pids[@]}"; do
      name="${entry%%:*}" pid="${entry##*:}"
      while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        say "$name did not stop within 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      say "stopped $name"
    done
  done
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts `$@` as <name> in a session of its own, so that a Ctrl-C reaches only this script, which
# then stops the cluster in order; and so that a detached cluster outlives the terminal.
spawn() {
  local name="$1"
  shift
  setsid "$@" </dev/null >"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
}

wait_ready() {
  local name="$1" url="$2" deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if ! live_pid "$name" >/dev/null; then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name exited before it was ready (log: $LOGS/$name.log)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "$name is not ready after 60 s (log: $LOGS/$name.log)"
    sleep 0.2
  done
}

redis_ready() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || return 1
  printf 'PING\r\n' >&3
  read -r -t 1 reply <&3 || true
  exec 3>&-
  [ "${reply%$'\r'}" = "+PONG" ]
}

start() {
  local detach="$1" name
  for name in $(names); do
    if live_pid "$name" >/dev/null; then
      die "already running ($name); stop it first: deploy/local-cluster.sh stop"
    fi
  done
  for port in "$REDIS_PORT" "$CONTROL_PLANE_PORT" "${GATEWAY_PORTS[@]}"; do
    port_taken "$port" && die "port $port is taken; choose others (see the top of $0)"
  done
  command -v redis-server >/dev/null || die "redis-server is not on PATH (apt-get install redis-server)"
  command -v curl >/dev/null || die "curl is not on PATH (apt-get install curl)"

  local cargo_flags=(--locked --bin gatehouse)
  [ "$PROFILE" = release ] && cargo_flags+=(--release)
  say "building gatehouse ($PROFILE)"
  cargo build "${cargo_flags[@]}"
  local bin
  bin="$(realpath "${CARGO_TARGET_DIR:-target}/$PROFILE/gatehouse")"

  mkdir -p "$LOGS" "$PIDS" "$DIR/redis" "$DIR/control-plane"
  # Gateways follow the config stream with this; it lives as long as the cluster.
  local node_secret
  node_secret="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"

  if [ "$detach" = no ]; then
    trap 'echo >&2; stop_all; exit 0' INT TERM
  fi

  # Append-only persistence, as in Kubernetes: tokens and config survive a restart of the cluster.
  spawn redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$(realpath "$DIR/redis")" \
    --appendonly yes --save "" --protected-mode yes
  local deadline=$((SECONDS + 20))
  until redis_ready 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "redis-server did not answer PING (log: $LOGS/redis.log)"
    sleep 0.1
  done

  # Secrets through the environment, as the Kubernetes manifests pass them.
  GATEHOUSE_ADMIN_SECRET="$ADMIN_SECRET" GATEHOUSE_NODE_SECRET="$node_secret" \
    spawn control-plane "$bin" control-plane --listen "127.0.0.1:$CONTROL_PLANE_PORT" \
    --data-dir "$DIR/control-plane" --redis "$REDIS_URL"
  wait_ready control-plane "$CONTROL_PLANE_URL/readyz"

  local i
  for i in "${!GATEWAY_PORTS[@]}"; do
    # No load balancer needs time to stop routing to a local gateway: no drain delay.
    GATEHOUSE_NODE_SECRET="$node_secret" spawn "gateway-$((i + 1))" "$bin" gateway \
      --listen "127.0.0.1:${GATEWAY_PORTS[$i]}" --control-plane "$CONTROL_PLANE_URL" \
      --redis "$REDIS_URL" --node-id "gateway-$((i + 1))" --drain-delay 0
  done
  for i in "${!GATEWAY_PORTS[@]}"; do
    wait_ready "gateway-$((i + 1))" "http://127.0.0.1:${GATEWAY_PORTS[$i]}/readyz"
  done

  usage
  if [ "$detach" = yes ]; then
    say "running in the background; stop it with: deploy/local-cluster.sh stop"
    return
  fi
  say "Ctrl-C stops the cluster"
  # Tell about a process that exits on its own (once), and keep the others running: stopping
  # a gateway or the control plane to watch the rest carry on is a fair experiment.
  local reported=" "
  while true; do
    for name in $(names); do
      if [[ "$reported" != *" $name "* ]] && ! live_pid "$name" >/dev/null; then
        say "$name exited (log: $LOGS/$name.log)"
        reported+="$name "
      fi
    done
    sleep 2
  done
}

usage() {
  local gateways="" port
  for port in "${GATEWAY_PORTS[@]}"; do gateways+=" http://127.0.0.1:$port"; done
  cat <<EOF

Gatehouse local cluster ($PROFILE build), all ready:
  redis          $REDIS_URL  (append-only file in $DIR/redis)
  control plane  $CONTROL_PLANE_URL  (gRPC and REST; data in $DIR/control-plane)
  gateways      $gateways
  logs           $LOGS/<name>.log

Admin API (the admin secret in Authorization):
  SECRET=$ADMIN_SECRET
  curl -s $CONTROL_PLANE_URL/api/gateways -H "Authorization: \$SECRET"
  curl -s $CONTROL_PLANE_URL/api/apis -H "Authorization: \$SECRET"

Then create an API and a client there, get a token from one gateway and use it on another:
see "Run a local cluster" in README.md.

EOF
}

status() {
  local name pid i url
  for name in $(names); do
    case "$name" in
      redis) url="" ;;
      control-plane) url="$CONTROL_PLANE_URL/readyz" ;;
      gateway-*)
        i="${name#gateway-}"
        url="http://127.0.0.1:${GATEWAY_PORTS[$((i - 1))]}/readyz"
        ;;
    esac
    if pid="$(live_pid "$name")"; then
      if [ -z "$url" ] || curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
        echo "$name: running (pid $pid), ready"
      else
        echo "$name: running (pid $pid), not ready"
      fi
    else
      echo "$name: stopped"
    fi
  done
}

case "${1:-start}" in
  start)
    case "${2:-}" in
      -d | --detach) start yes ;;
      "") start no ;;
      *) die "unknown option ${2}; usage: $0 [start [-d] | status | stop]" ;;
    esac
    ;;
  stop) stop_all ;;
  status) status ;;
  *) die "usage: $0 [start [-d] | status | stop]" ;;
esac
