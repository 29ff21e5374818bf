#!/usr/bin/env bash
# Reproduces the figures in docs/PERFORMANCE.md. Each part prints its results.
#
#   ci/bench.sh resample   criterion: device audio → 16 kHz mono s16, per second of audio
#   ci/bench.sh latency    ring buffer → WebSocket frame latency (p50/p99)
#   ci/bench.sh listen     RSS and CPU of `tonnytray listen` streaming speech from
#                          the PulseAudio virtual mic to the real server
#   ci/bench.sh e2e        end of speech → final text, TonnyTray vs a minimal
#                          Python client, same audio, same server, same run
#   ci/bench.sh desktop    the desktop app under Xvfb with a StatusNotifier tray
#                          host on a private session bus: cold start
#                          to the first frame (window mapped), idle CPU with the
#                          window hidden, RSS beside a bare eframe window with the
#                          same renderer, release binary size
#   ci/bench.sh typing     XTEST typing of a 101-character sentence at 12, 4 and
#                          0 ms per character, beside one `xdotool type` call
#   ci/bench.sh typing-wayland  the same sentence through the virtual keyboard
#                          into foot under headless sway, as the unprivileged
#                          user TONNYTRAY_TEST_WAYLAND_USER (tonnytray-test)
#   ci/bench.sh capture    the default microphone opened five times, as the app
#                          opens it and with the buffer size left to PulseAudio:
#                          time to open, when audio arrives; on the CI virtual
#                          mic with and without its low-latency reader
#   ci/bench.sh store      history store: commit p50/p99 (fsync), search over
#                          100 000 utterances, file size per 10 000
#   ci/bench.sh metrics    criterion: one metric recorded; one /metrics scrape rendered
#   ci/bench.sh all        all of the above
#
# Uses the speech server at TONNYTRAY_SERVER_URL (default ws://127.0.0.1:8888/asr),
# starting one with scripts/asr-server.sh when none answers there. RUNS (5)
# sets the number of e2e repetitions.
set -euo pipefail
cd "$(dirname "$0")/.."
url="${TONNYTRAY_SERVER_URL:-ws://127.0.0.1:8888/asr}"
runs="${RUNS:-5}"
work=$(mktemp -d /tmp/tonnytray-bench.XXXXXX)
# shellcheck source=ci/virtual-mic.sh
source ci/virtual-mic.sh
trap 'stop_virtual_mic; rm -rf "$work"' EXIT
bin=target/release/tonnytray
venv="${TONNYTRAY_ASR_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/tonnytray/asr-venv}"

text="Turn on the living room lights and set a timer for ten minutes. Please add apples and bananas to the shopping list."

ensure_server() {
  local port=${url##*:}
  port=${port%%/*}
  bash scripts/asr-server.sh --port "$port" >&2
}

build() { cargo build --release -p tonnytray >&2; }

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }

bench_resample() {
  cargo bench -p tonnytray --bench resample -- --noplot 2>&1 | grep -E "^to_16k|time:|thrpt:"
}

bench_latency() {
  cargo run --release -q -p tonnytray --example latency -- 30
}

bench_listen() {
  build
  ensure_server
  start_virtual_mic "$work"
  espeak-ng -v en-us -s 140 -w "$work/speech.wav" "$text"
  local secs=30
  "$bin" listen --server "$url" --seconds "$secs" >"$work/listen.out" 2>"$work/listen.err" &
  local pid=$!
  sleep 1
  ( for _ in 1 2 3 4; do paplay -d vmic_sink "$work/speech.wav"; sleep 1; done ) &
  local player=$!
  local peak=0 rss
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    # utime + stime in clock ticks, read while the process still exists
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "${ticks:-0}")
    sleep 0.2
  done
  wait "$pid" || true
  wait "$player" || true
  local hz
  hz=$(getconf CLK_TCK)
  awk -v t="$ticks" -v hz="$hz" -v s="$secs" -v kb="$peak" 'BEGIN {
    printf "listen for %d s while speaking: peak RSS %.1f MB, CPU %.2f %% of one core (%.2f s)\n",
      s, kb / 1024, 100 * t / hz / s, t / hz }'
  echo "heard: $(cat "$work/listen.out")"
}

bench_e2e() {
  build
  ensure_server
  espeak-ng -v en-us -s 140 -w "$work/speech.wav" "$text"
  sox "$work/speech.wav" -r 16000 -c 1 -b 16 -e signed-integer -t raw "$work/speech.raw"
  : >"$work/ours"; : >"$work/python"
  for i in $(seq 1 "$runs"); do
    "$bin" transcribe "$work/speech.wav" --realtime --timings --server "$url" 2>"$work/err" >/dev/null
    sed -n 's/.*"end_to_final_ms":\([0-9.]*\).*/\1/p' "$work/err" >>"$work/ours"
    "$venv/bin/python" ci/bench/wlk_client.py "$url" "$work/speech.raw" 2>"$work/err" >/dev/null
    sed -n 's/.*"end_to_final_ms":\([0-9.]*\).*/\1/p' "$work/err" >>"$work/python"
    echo "run $i: tonnytray $(tail -1 "$work/ours") ms, python $(tail -1 "$work/python") ms" >&2
  done
  echo "end of speech → final text, median of $runs: tonnytray $(median <"$work/ours") ms, python client $(median <"$work/python") ms"
}

# Starts a private X server, a session bus with nothing to activate (as in
# the tests: no accessibility daemons outlive the run) and a StatusNotifier
# watcher and panel on it; sets DISPLAY and DBUS_SESSION_BUS_ADDRESS.
start_desktop() {
  Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$work/display" 2>/dev/null &
  desktop_pids=($!)
  local _
  for _ in $(seq 1 50); do [ -s "$work/display" ] && break; sleep 0.1; done
  DISPLAY=":$(cat "$work/display")"
  export DISPLAY
  sed "s|BUS_PATH|$work/bus|" ci/session-bus.conf >"$work/bus.conf"
  dbus-daemon --config-file="$work/bus.conf" --nofork --print-address=3 3>"$work/bus-address" 2>/dev/null &
  desktop_pids+=($!)
  for _ in $(seq 1 50); do [ -s "$work/bus-address" ] && break; sleep 0.1; done
  DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$work/bus-address")
  export DBUS_SESSION_BUS_ADDRESS
  status-notifier-watcher >/dev/null 2>&1 &
  desktop_pids+=($!)
  gtk-sni-tray-standalone --top --end --size 32 >/dev/null 2>&1 &
  desktop_pids+=($!)
  sleep 2
}

stop_desktop() {
  local i
  for ((i = ${#desktop_pids[@]} - 1; i >= 0; i--)); do kill "${desktop_pids[i]}" 2>/dev/null || true; done
}

# Runs a window program on the desktop's bus; returns once its window named
# $1 is mapped.
launch() {
  local name="$1"; shift
  XDG_RUNTIME_DIR="$work/xdg" "$@" >/dev/null 2>&1 &
  xdotool search --sync --onlyvisible --name "$name" >/dev/null
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

bench_desktop() {
  cargo build --release -p tonnytray --example bare_window >&2
  build
  start_desktop
  mkdir -p "$work/xdg"; chmod 700 "$work/xdg"
  local settings="$work/settings.toml" t0 t1 pid log="$work/app.log"
  : >"$work/start"; : >"$work/inner"
  for _ in $(seq 1 "$runs"); do
    : >"$log"
    t0=$(date +%s%N)
    XDG_RUNTIME_DIR="$work/xdg" RUST_LOG=tonnytray=info \
      "$bin" --settings "$settings" >/dev/null 2>"$log" &
    local waited=0
    until grep -q "first frame drawn" "$log"; do
      sleep 0.002
      waited=$((waited + 1))
      [ "$waited" -lt 15000 ] || { cat "$log" >&2; echo "bench: no first frame" >&2; return 1; }
    done
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 )) >>"$work/start"
    sed -n 's/.*first frame drawn \([0-9]*\) ms.*/\1/p' "$log" >>"$work/inner"
    XDG_RUNTIME_DIR="$work/xdg" "$bin" quit >/dev/null 2>&1 || true
    sleep 1
  done
  echo "cold start to first frame, median of $runs: $(median <"$work/start") ms from launch, $(median <"$work/inner") ms inside the app"

  launch TonnyTray "$bin" --settings "$settings"
  pid=$(pgrep -n -f "^$bin --settings")
  sleep 3
  echo "TonnyTray window shown, idle: RSS $(rss_mb "$pid") MB"
  XDG_RUNTIME_DIR="$work/xdg" "$bin" quit >/dev/null 2>&1 || true
  sleep 1

  XDG_RUNTIME_DIR="$work/xdg" "$bin" --settings "$settings" --hidden >/dev/null 2>&1 &
  sleep 3
  pid=$(pgrep -n -f "^$bin --settings")
  local secs=60
  cpu_ns() { awk '{s += $1} END {print s}' /proc/"$1"/task/*/schedstat; }
  per_thread() { for t in /proc/"$1"/task/*; do echo "$(basename "$t") $(cat "$t/comm") $(awk '{print $1}' "$t/schedstat")"; done; }
  per_thread "$pid" >"$work/s0"
  local ns0 ns1
  ns0=$(cpu_ns "$pid")
  sleep "$secs"
  ns1=$(cpu_ns "$pid")
  per_thread "$pid" >"$work/s1"
  awk -v d="$((ns1 - ns0))" -v s="$secs" -v rss="$(rss_mb "$pid")" 'BEGIN {
    printf "TonnyTray hidden in the tray, idle %d s: CPU %.3f %% of one core (%.1f ms), RSS %s MB\n", s, d / 1e7 / s, d / 1e6, rss }'
  join "$work/s0" "$work/s1" | awk '$5 > $3 {printf "  thread %-12s %.1f ms\n", $2, ($5 - $3) / 1e6}'
  XDG_RUNTIME_DIR="$work/xdg" "$bin" quit >/dev/null 2>&1 || true
  sleep 1

  launch "bare eframe" target/release/examples/bare_window
  pid=$(pgrep -n -f "examples/bare_window")
  sleep 3
  echo "bare eframe window (glow), idle: RSS $(rss_mb "$pid") MB"
  kill "$pid"
  stop_desktop
  echo "release binary: $(stat -c %s "$bin" | awk '{printf "%.1f MB", $1 / 1048576}')"
}

bench_typing() {
  cargo build --release -p tonnytray --example type_rate >&2
  start_desktop
  local d text="Please add apples and bananas to the shopping list. Remind me to call my sister after dinner tonight."
  for d in 12 4 0; do target/release/examples/type_rate "$d"; done
  local t0 t1
  t0=$(date +%s%N)
  printf %s "$text" | xdotool type --delay 12 --file -
  t1=$(date +%s%N)
  echo "one xdotool type --delay 12 call, same text: $(( (t1 - t0) / 1000000 )) ms"
  stop_desktop
}

bench_typing_wayland() {
  cargo build --release -p tonnytray --example type_rate >&2
  local user="${TONNYTRAY_TEST_WAYLAND_USER:-tonnytray-test}" dir="$work/wayland" d _
  id "$user" >/dev/null 2>&1 || { echo "bench: no user $user (ci/check.sh makes it; sway refuses root)" >&2; return 1; }
  mkdir -p "$dir/xdg" "$dir/home"
  chmod 700 "$dir/xdg"
  chmod 711 "$work"
  cp target/release/examples/type_rate "$dir/"
  printf 'output HEADLESS-1 resolution 1280x800\nexec foot -a target sh -c "stty raw -echo; exec cat > %s/typed.txt"\n' "$dir" >"$dir/sway.conf"
  chown -R "$user" "$dir"
  as_user() { runuser -u "$user" -- env -i PATH=/usr/bin:/bin HOME="$dir/home" XDG_RUNTIME_DIR="$dir/xdg" "$@"; }
  as_user WLR_BACKENDS=headless WLR_LIBINPUT_NO_DEVICES=1 WLR_RENDERER=pixman sway -c "$dir/sway.conf" >/dev/null 2>&1 &
  for _ in $(seq 1 100); do [ -S "$dir/xdg/wayland-1" ] && break; sleep 0.1; done
  sleep 2 # foot maps and takes the focus
  for d in 12 4 0; do as_user WAYLAND_DISPLAY=wayland-1 "$dir/type_rate" "$d"; done
  sleep 0.5
  echo "foot received $(wc -m <"$dir/typed.txt") characters (3 × 101 sent)"
  pkill -u "$user" sway || true
}

bench_capture() {
  cargo build -q -p tonnytray --example capture_open >&2
  start_virtual_mic "$work"
  local mode
  for mode in app server-default; do target/debug/examples/capture_open "$mode" 5; done
  # Without the reader that keeps vmic at low latency (ci/virtual-mic.sh).
  kill "$virtual_mic_reader" 2>/dev/null || true
  virtual_mic_reader=""
  sleep 2.5
  for mode in app server-default; do
    target/debug/examples/capture_open "$mode" 5 | sed 's/^/no reader: /'
  done
}

bench_store() {
  cargo run --release -q -p tonnytray --example store_bench -- "${STORE_BENCH_DIR:-/tmp}"
}

bench_metrics() {
  cargo bench -p tonnytray --bench metrics -- --noplot 2>&1 | grep -E '^[a-z_/]+ +time:|time:' >&2
}

case "${1:-all}" in
  resample) bench_resample ;;
  latency) bench_latency ;;
  listen) bench_listen ;;
  e2e) bench_e2e ;;
  desktop) bench_desktop ;;
  typing) bench_typing ;;
  typing-wayland) bench_typing_wayland ;;
  capture) bench_capture ;;
  store) bench_store ;;
  metrics) bench_metrics ;;
  all) bench_resample; bench_latency; bench_listen; bench_e2e; bench_desktop; bench_typing; bench_typing_wayland; bench_capture; bench_store; bench_metrics ;;
  *) sed -n '2,31p' "$0"; exit 2 ;;
esac
