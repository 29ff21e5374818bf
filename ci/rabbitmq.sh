#!/usr/bin/env bash
# A private RabbitMQ broker for the tests, without systemd: Debian's
# rabbitmq-server (scripts/install-deps.sh installs it) run as the current
# user with everything under one directory, so several brokers can run side
# by side and a stopped one starts again with its data.
#
# The node name is derived from the directory, so it is unique per directory.
# AMQP, the Erlang distribution port and epmd listen on 127.0.0.1 only;
# guest/guest works (RabbitMQ allows guest on loopback).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: ci/rabbitmq.sh start --port P --dir D [--wait SECS]
       ci/rabbitmq.sh stop --dir D

start  starts a broker with AMQP on 127.0.0.1:P, its data and logs under D
       (D/mnesia, D/log, D/rabbitmq.log), and waits up to SECS (default 120)
       until it accepts work; prints the AMQP URL.
stop   stops the broker of D and waits until it has exited.
EOF
}

die() {
  echo "rabbitmq.sh: $*" >&2
  exit 1
}

rmq_bin=/usr/lib/rabbitmq/bin

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The environment both the server and the CLI tools need to find each other:
# HOME=D keeps the Erlang cookie private to this broker.
broker_env() {
  local dir=$1
  # A node name unique per directory; short names resolve on loopback.
  local id
  id=$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
  export HOME="$dir"
  export RABBITMQ_NODENAME="tonny-$id@localhost"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# A free loopback port for the Erlang distribution, picked at random so that
# brokers starting at the same moment rarely pick the same one (start retries
# when one does).
free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((25672 + RANDOM % 10000))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "no free port found for the Erlang distribution (tried 50 in 25672-35671)"
}

# Starts the server in the background and waits until it answers; returns 2
# when the distribution port was taken meanwhile (the caller retries).
launch() {
  local dir=$1 port=$2 wait_secs=$3
  local dist_port pid log_lines
  dist_port=$(free_port)
  touch "$dir/rabbitmq.log"
  log_lines=$(wc -l <"$dir/rabbitmq.log")
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$dist_port"
  # setsid gives the broker its own process group, out of reach of a test
  # runner's Ctrl-C; $! is the server script, which stops the broker
  # gracefully on TERM and leads the group.
  setsid "$rmq_bin/rabbitmq-server" >>"$dir/rabbitmq.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/server.pid"
  local deadline=$((SECONDS + wait_secs))
  until "$rmq_bin/rabbitmq-diagnostics" -q --timeout 5 check_running >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n +"$((log_lines + 1))" "$dir/rabbitmq.log" | grep -q dist_port_already_used && return 2
      tail -n 30 "$dir/rabbitmq.log" >&2
      die "the broker exited while starting (log: $dir/rabbitmq.log, $dir/log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 30 "$dir/rabbitmq.log" >&2
      die "the broker did not start within ${wait_secs}s (log: $dir/rabbitmq.log, $dir/log)"
    fi
    sleep 1
  done
}

start() {
  local port="" dir="" wait_secs=120
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=${2:?--port needs a value}; shift 2 ;;
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      --wait) wait_secs=${2:?--wait needs a value}; shift 2 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  if [ -z "$port" ] || [ -z "$dir" ]; then
    usage >&2
    die "start needs --port and --dir"
  fi
  [ -x "$rmq_bin/rabbitmq-server" ] || die "rabbitmq-server is not installed: run scripts/install-deps.sh"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
    die "a broker already runs for $dir (pid $(cat "$dir/server.pid")): stop it first"
  fi
  port_in_use "$port" && die "port $port is already in use: choose another --port"
  broker_env "$dir"
  : >"$RABBITMQ_CONF_ENV_FILE"
  printf '[].\n' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  printf '[].\n' >"$RABBITMQ_ADVANCED_CONFIG_FILE"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$port
loopback_users.guest = true
log.console = false
log.file.level = info
EOF
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  # Remember whether this broker started epmd, so stop can end it.
  if ! pgrep -x epmd >/dev/null 2>&1; then
    touch "$dir/started-epmd"
  fi
  echo "rabbitmq.sh: starting $RABBITMQ_NODENAME on 127.0.0.1:$port (log: $dir/rabbitmq.log)" >&2
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    launch "$dir" "$port" "$wait_secs" || rc=$?
    [ "$rc" -eq 2 ] || break
    echo "rabbitmq.sh: the distribution port was taken meanwhile; retrying (attempt $attempt)" >&2
  done
  [ "$rc" -eq 0 ] || die "the broker could not get a free distribution port"
  port_in_use "$port" || die "the broker runs but does not listen on 127.0.0.1:$port"
  echo "rabbitmq.sh: ready after ${SECONDS}s (pid $(cat "$dir/server.pid"))" >&2
  echo "amqp://guest:guest@127.0.0.1:$port/%2f"
}

stop() {
  local dir=""
  while [ $# -gt 0 ]; do
    case $1 in
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  [ -n "$dir" ] || { usage >&2; die "stop needs --dir"; }
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  broker_env "$dir"
  local pid=""
  [ -f "$dir/server.pid" ] && pid=$(cat "$dir/server.pid")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    "$rmq_bin/rabbitmqctl" -q --timeout 60 stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      # Still there after 30 s: end the whole group (script and Erlang VM).
      [ "$i" -lt 60 ] || kill -9 -- "-$pid" 2>/dev/null || true
      sleep 0.5
    done
  fi
  rm -f "$dir/server.pid" "$dir/rabbitmq.pid"
  # End epmd if this broker started it and no other Erlang node uses it.
  if [ -f "$dir/started-epmd" ]; then
    rm -f "$dir/started-epmd"
    if ! epmd -names 2>/dev/null | grep -q '^name '; then
      epmd -kill >/dev/null 2>&1 || true
    fi
  fi
  echo "rabbitmq.sh: stopped the broker of $dir" >&2
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
