#!/usr/bin/env bash
# Sourced by ci/check.sh and ci/bench.sh: a private PulseAudio server whose
# default source "vmic" is a virtual microphone. `paplay -d vmic_sink X.wav`
# "speaks" into it; what apps play goes to the null sink "vspk".
#
#   start_virtual_mic DIR   starts it with its socket and log in DIR and
#                           exports PULSE_SERVER and XDG_RUNTIME_DIR
#   stop_virtual_mic        stops it

virtual_mic_pid=""
virtual_mic_reader=""

start_virtual_mic() {
  local dir="$1"
  export XDG_RUNTIME_DIR="$dir/xdg"
  mkdir -p "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit \
    -L "module-native-protocol-unix auth-anonymous=1 socket=$dir/pulse.sock" \
    -L "module-null-sink sink_name=vspk" \
    -L "module-null-sink sink_name=vmic_sink" \
    -L "module-remap-source source_name=vmic master=vmic_sink.monitor" \
    >"$dir/pulse.log" 2>&1 &
  virtual_mic_pid=$!
  export PULSE_SERVER="unix:$dir/pulse.sock"
  local _
  for _ in $(seq 1 50); do pactl info >/dev/null 2>&1 && break; sleep 0.2; done
  if ! pactl set-default-source vmic || ! pactl set-default-sink vspk; then
    cat "$dir/pulse.log" >&2
    echo "virtual-mic: PulseAudio did not start" >&2
    return 1
  fi
  # A null sink renders in 2 s blocks while nothing asks for less, so its
  # monitor (and vmic) handed a new recording its first audio up to 2 s
  # late, and then in 2 s batches: nothing like a microphone, which delivers
  # every few milliseconds. Measured with cpal on this server: first audio
  # after 1.6-2.0 s, then 50 ms chunks once the app's low-latency request
  # took hold; with this reader attached, 50 ms from the first open.
  parec --latency-msec=20 -d vmic >/dev/null 2>&1 &
  virtual_mic_reader=$!
}

stop_virtual_mic() {
  [ -n "$virtual_mic_reader" ] && kill "$virtual_mic_reader" 2>/dev/null
  virtual_mic_reader=""
  [ -n "$virtual_mic_pid" ] && kill "$virtual_mic_pid" 2>/dev/null
  virtual_mic_pid=""
}
