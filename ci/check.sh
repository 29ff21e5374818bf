#!/usr/bin/env bash
# Everything CI runs, in order: system packages, formatting, lints, the
# operations checks (ci/lint-ops.sh: workflows, compose, Prometheus rules,
# systemd units; ci/audit.sh: cargo-deny offline against the RustSec
# snapshot), one test build, the .deb packaged from that build
# (ci/package.sh), the fast tests, and the end-to-end tests against real
# peers — a WhisperLiveKit server on loopback, a PulseAudio virtual
# microphone, an n8n with the test workflow (ci/n8n.sh), a RabbitMQ broker
# (ci/rabbitmq.sh) and Prometheus (started by its test), all started here and
# stopped at exit. The desktop tests start their own private X server (Xvfb),
# session bus, StatusNotifier tray host and target windows per test, and the
# Wayland test its own headless sway as the unprivileged user
# $TONNYTRAY_TEST_WAYLAND_USER (made here when missing: sway refuses root).
# This is the README's test command; .ci/run calls it.
#
# Environment: TONNYTRAY_TEST_PORT (18888) and TONNYTRAY_TEST_RESTART_PORT
# (18890) choose the test servers' ports, away from a user's own 8888;
# TONNYTRAY_TEST_N8N_PORT (15678) and TONNYTRAY_TEST_AMQP_PORT (15673) the
# shared n8n's and RabbitMQ's, away from their usual 5678 and 5672;
# TONNYTRAY_N8N_HOME where n8n is installed once and reused
# (~/.cache/tonnytray/n8n); TONNYTRAY_TEST_MANAGED_PORT (18892) the port
# where the app starts its own server in the supervisor test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

port="${TONNYTRAY_TEST_PORT:-18888}"
restart_port="${TONNYTRAY_TEST_RESTART_PORT:-18890}"
n8n_port="${TONNYTRAY_TEST_N8N_PORT:-15678}"
amqp_port="${TONNYTRAY_TEST_AMQP_PORT:-15673}"
managed_port="${TONNYTRAY_TEST_MANAGED_PORT:-18892}"
n8n_home="${TONNYTRAY_N8N_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/n8n}"
work=$(mktemp -d /tmp/tonnytray-ci.XXXXXX)
server_job=""
n8n_job=""
rabbitmq_job=""
audit_job=""
lint_job=""
# shellcheck source=ci/virtual-mic.sh
source ci/virtual-mic.sh

step() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)" >&2; }

# Ends a background job and its direct children (an npm install, a start).
end_job() {
  [ -n "$1" ] || return 0
  pkill -TERM -P "$1" 2>/dev/null
  kill "$1" 2>/dev/null
}

# Waits for a background job; shows its log and fails when it failed.
wait_job() {
  local job=$1 log=$2 what=$3
  if ! wait "$job"; then
    cat "$log" >&2
    echo "check: $what failed" >&2
    exit 1
  fi
  tail -n 2 "$log" >&2
}

cleanup() {
  set +e
  [ -n "$server_job" ] && kill "$server_job" 2>/dev/null
  end_job "$n8n_job"
  end_job "$rabbitmq_job"
  end_job "$audit_job"
  end_job "$lint_job"
  pkill -9 -f "whisperlivekit-server.*--port $managed_port" 2>/dev/null
  TONNYTRAY_N8N_HOME="$n8n_home" bash ci/n8n.sh stop --dir "$work/n8n" >/dev/null 2>&1
  bash ci/rabbitmq.sh stop --dir "$work/rabbitmq" >/dev/null 2>&1
  bash scripts/asr-server.sh --port "$port" --stop >/dev/null 2>&1
  bash scripts/asr-server.sh --port "$restart_port" --stop >/dev/null 2>&1
  stop_virtual_mic
  # PulseAudio may still be writing its runtime dir as it exits: try twice,
  # quietly, so the test summary stays the last thing printed.
  rm -rf "$work" 2>/dev/null || { sleep 1; rm -rf "$work" 2>/dev/null; }
}
trap cleanup EXIT

# Say up front how much disk there is, since a full disk stops a build with
# an I/O error deep in some compiler step. (.ci/run also turns incremental
# compilation off: a CI machine builds once from nothing.)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target_dir"
free_gb=$(df -Pk "$target_dir" | awk 'NR == 2 { printf "%d", $4 / 1048576 }')
step "disk: ${free_gb} GB free for $target_dir"
if [ "$free_gb" -lt 12 ]; then
  echo "check: warning: only ${free_gb} GB free where the build goes ($target_dir); a cold run needs about 12 GB (build 2.5 GB, speech server 6.3 GB, n8n 2.1 GB, crates 1.2 GB)" >&2
fi

step "system packages"
bash scripts/install-deps.sh

# The speech server's install (pip, minutes) and start-up (model load) run
# in the background while Rust builds. pip's install is niced; the server
# itself is not, so the tests meet it at normal priority.
step "speech server: installing and starting in the background (log: $work/asr.log)"
(
  nice -n 10 bash scripts/asr-server.sh --install-only
  bash scripts/asr-server.sh --port "$port" --wait 600
) >"$work/asr.log" 2>&1 &
server_job=$!

# n8n's install (npm, ~12 minutes on a new machine, then reused from
# $n8n_home) and both brokers' start-ups also overlap the Rust build.
step "n8n and RabbitMQ: installing and starting in the background (logs: $work/n8n-setup.log, $work/rabbitmq-setup.log)"
n8n_token="ci-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
(
  export TONNYTRAY_N8N_HOME="$n8n_home"
  # Not niced: niced, npm's install (native modules compiled from source)
  # got no CPU beside the build and finished 3.5 minutes after it.
  bash ci/n8n.sh install
  TONNYTRAY_N8N_TOKEN="$n8n_token" bash ci/n8n.sh start --port "$n8n_port" --dir "$work/n8n" --wait 600
) >"$work/n8n-setup.log" 2>&1 &
n8n_job=$!
bash ci/rabbitmq.sh start --port "$amqp_port" --dir "$work/rabbitmq" --wait 300 >"$work/rabbitmq-setup.log" 2>&1 &
rabbitmq_job=$!

# The operations checks and the audit are mostly pip installs and waiting:
# niced in the background, so the Rust build keeps the cores.
step "operations checks and dependency audit: in the background (logs: $work/lint-ops.log, $work/audit.log)"
nice -n 10 bash ci/lint-ops.sh >"$work/lint-ops.log" 2>&1 &
lint_job=$!
nice -n 19 bash ci/audit.sh >"$work/audit.log" 2>&1 &
audit_job=$!

if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest (prebuilt, ci/cargo-tools.sh)"
  PATH="$(bash ci/cargo-tools.sh nextest):$PATH"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "shellcheck"
shellcheck scripts/*.sh ci/*.sh .ci/run packaging/systemd/*.sh

step "module boundaries (ci/boundaries.sh)"
bash ci/boundaries.sh

# Clippy compiles the workspace's crates in the test build itself
# (ci/clippy-rustc.sh says why): the dependency tree is compiled once, not
# once for `cargo clippy` and again for the tests. Exported, so the test run
# below finds the build fresh. The benches are not test targets; building
# them afterwards lints them too (their dependencies are built by then).
export RUSTC_WORKSPACE_WRAPPER="$root/ci/clippy-rustc.sh"
step "clippy and the test build (clippy -D warnings on every workspace crate)"
cargo nextest run --workspace --no-run
step "clippy on the benches"
cargo build --workspace --benches

step "the .deb, from the binary the test build made"
deb=$(bash ci/package.sh deb)
export TONNYTRAY_TEST_DEB="$deb"

step "PulseAudio virtual microphone"
# The Wayland test's app runs as another user: it must reach the socket.
chmod 711 "$work"
start_virtual_mic "$work"

wayland_user="${TONNYTRAY_TEST_WAYLAND_USER:-tonnytray-test}"
if ! id "$wayland_user" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    step "creating the Wayland test's user $wayland_user"
    useradd --system --create-home --shell /usr/sbin/nologin "$wayland_user"
  else
    sudo useradd --system --create-home --shell /usr/sbin/nologin "$wayland_user"
  fi
fi
export TONNYTRAY_TEST_WAYLAND_USER="$wayland_user"

step "waiting for the speech server"
if ! wait "$server_job"; then
  server_job=""
  cat "$work/asr.log" >&2
  echo "check: the speech server did not start" >&2
  exit 1
fi
server_job=""
tail -n 2 "$work/asr.log" >&2

step "waiting for n8n and RabbitMQ"
wait_job "$rabbitmq_job" "$work/rabbitmq-setup.log" "starting RabbitMQ"
rabbitmq_job=""
wait_job "$n8n_job" "$work/n8n-setup.log" "installing or starting n8n"
n8n_job=""

step "waiting for the operations checks"
wait_job "$lint_job" "$work/lint-ops.log" "ci/lint-ops.sh"
lint_job=""

step "tests (unit, CLI, scripts, package, and end-to-end against the real peers)"
export TONNYTRAY_TEST_SERVER_URL="ws://127.0.0.1:$port/asr"
export TONNYTRAY_TEST_RESTART_PORT="$restart_port"
export TONNYTRAY_TEST_ARTIFACTS="$work/artifacts"
export TONNYTRAY_TEST_N8N_URL="http://127.0.0.1:$n8n_port"
export TONNYTRAY_TEST_N8N_TOKEN="$n8n_token"
export TONNYTRAY_TEST_N8N_SCRIPT="$root/ci/n8n.sh"
export TONNYTRAY_TEST_N8N_HOME="$n8n_home"
export TONNYTRAY_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp_port/%2f"
export TONNYTRAY_TEST_MANAGED_PORT="$managed_port"
# The desktop tests give the app a private HOME; a server the app starts
# there must use the environment installed above, not install another.
export TONNYTRAY_ASR_VENV="${TONNYTRAY_ASR_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/tonnytray/asr-venv}"
# The app finds the script beside its binary (target/debug/../../scripts),
# which is not this checkout when CARGO_TARGET_DIR is elsewhere.
export TONNYTRAY_ASR_SCRIPT="$root/scripts/asr-server.sh"
mkdir -p "$TONNYTRAY_TEST_ARTIFACTS"
cd "$root"
# The audit (still building cargo-deny on a new machine, niced) goes on
# beside the tests, which leave a core idle much of the time; its result
# comes after theirs, and the test runner's summary is repeated last.
set +e
# soak:: is the hour-long benchmark (ci/reliability.sh soak), not a test.
cargo nextest run --workspace --run-ignored all -E 'not test(/^soak::/)' 2>&1 | tee "$work/tests.log"
tests_rc=${PIPESTATUS[0]}
set -e

step "waiting for the dependency audit (ci/audit.sh)"
audit_rc=0
wait "$audit_job" || audit_rc=$?
audit_job=""
if [ "$audit_rc" -ne 0 ]; then
  cat "$work/audit.log" >&2
  echo "check: ci/audit.sh (cargo-deny) failed" >&2
else
  tail -n 3 "$work/audit.log" >&2
fi

step "test summary"
awk '/^ +Summary \[/ { out = ""; keep = 1 } keep { out = out $0 "\n" } END { printf "%s", out }' "$work/tests.log"
[ "$tests_rc" -eq 0 ] && [ "$audit_rc" -eq 0 ]
