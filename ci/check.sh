#!/usr/bin/env bash
# Everything CI runs, in order: system packages, formatting, lints, the fast
# tests, and the end-to-end tests against real peers — a WhisperLiveKit server
# on loopback and a PulseAudio virtual microphone, both started here and
# stopped at exit. The desktop tests start their own private X server (Xvfb),
# tray host (trayer) and target windows per test. This is the README's test
# command; .ci/run calls it.
#
# Environment: TONNYTRAY_TEST_PORT (18888) and TONNYTRAY_TEST_RESTART_PORT
# (18890) choose the test servers' ports, away from a user's own 8888.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

port="${TONNYTRAY_TEST_PORT:-18888}"
restart_port="${TONNYTRAY_TEST_RESTART_PORT:-18890}"
work=$(mktemp -d /tmp/tonnytray-ci.XXXXXX)
server_job=""
# shellcheck source=ci/virtual-mic.sh
source ci/virtual-mic.sh

step() { printf '\n== %s (%s)\n' "$*" "$(date +%H:%M:%S)" >&2; }

cleanup() {
  set +e
  [ -n "$server_job" ] && kill "$server_job" 2>/dev/null
  bash scripts/asr-server.sh --port "$port" --stop >/dev/null 2>&1
  bash scripts/asr-server.sh --port "$restart_port" --stop >/dev/null 2>&1
  stop_virtual_mic
  rm -rf "$work"
}
trap cleanup EXIT

step "system packages"
bash scripts/install-deps.sh

# The speech server's install (pip, minutes) and start-up (model load) run
# in the background while Rust builds.
step "speech server: installing and starting in the background (log: $work/asr.log)"
( bash scripts/asr-server.sh --port "$port" --wait 600 ) >"$work/asr.log" 2>&1 &
server_job=$!

if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "shellcheck"
shellcheck scripts/*.sh ci/*.sh .ci/run

step "build tests"
cargo nextest run --workspace --no-run

step "PulseAudio virtual microphone"
start_virtual_mic "$work"

step "waiting for the speech server"
if ! wait "$server_job"; then
  server_job=""
  cat "$work/asr.log" >&2
  echo "check: the speech server did not start" >&2
  exit 1
fi
server_job=""
tail -n 2 "$work/asr.log" >&2

step "tests (unit, CLI, and end-to-end against the real server)"
export TONNYTRAY_TEST_SERVER_URL="ws://127.0.0.1:$port/asr"
export TONNYTRAY_TEST_RESTART_PORT="$restart_port"
export TONNYTRAY_TEST_ARTIFACTS="$work/artifacts"
mkdir -p "$TONNYTRAY_TEST_ARTIFACTS"
cd "$root"
cargo nextest run --workspace --run-ignored all
