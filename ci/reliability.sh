#!/usr/bin/env bash
# Reproduces the fault and endurance figures in docs/RELIABILITY.md (the
# fuzzing campaigns are ci/fuzz.sh). Each part prints its results.
#
#   ci/reliability.sh kill-server ROUNDS
#       a WhisperLiveKit server of its own (port $PORT, default 18890) is
#       killed (SIGKILL) in the middle of an utterance ROUNDS times in a
#       row, at a random moment 3-14 s into 20 s of speech, and started
#       again; each round `tonnytray transcribe --realtime` must reconnect,
#       re-send and finish. Prints, per round, how many words of the text
#       are missing from what was printed, and which, beside a round with
#       no kill (misheard words count as missing in both): word@position
#       for a word left out, word@position>heard for one heard as another.
#
#   ci/reliability.sh soak SECONDS
#       the desktop app (release build, built here) under Xvfb with a
#       StatusNotifier tray, dictating from the PulseAudio virtual mic into
#       an xterm, utterance after utterance, for SECONDS (3600 in
#       docs/RELIABILITY.md): RSS, CPU, history file size every 30 s, and
#       the words of each utterance missing from what was heard. The
#       benchmark is app/tests/integration/soak.rs.
#
#   ci/reliability.sh commands-n8n-down COUNT
#       COUNT spoken commands (100 in docs/RELIABILITY.md) while a private
#       n8n is down, then n8n started: all must arrive in order, once each
#       (the e2e test CI runs with 20; needs `ci/n8n.sh install`).
#
# Uses $TONNYTRAY_BIN (default target/debug/tonnytray; build it first) and
# the speech server's venv (scripts/asr-server.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${TONNYTRAY_BIN:-target/debug/tonnytray}"
port="${PORT:-18890}"
work=$(mktemp -d /tmp/tonnytray-reliability.XXXXXX)
trap 'bash scripts/asr-server.sh --port "$port" --stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

text="The quick brown fox jumps over the lazy dog. Remind me to call my sister after dinner tonight. Close the garage door and turn off the kitchen lights. Turn on the living room lights and set a timer for ten minutes. Please add apples and bananas to the shopping list. What is the weather going to be like tomorrow morning?"

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

# Words of the text that the heard text lacks (a word-level alignment:
# a misheard word counts as missing too, which the no-kill round shows).
missing_words() {
  python3 - "$1" "$2" <<'EOF'
import difflib, re, sys
norm = lambda s: re.findall(r"[a-z0-9']+", s.lower().replace("10", "ten"))
said, heard = norm(sys.argv[1]), norm(sys.argv[2])
m = difflib.SequenceMatcher(a=said, b=heard, autojunk=False)
# A word left out is "word@position"; one heard as another is
# "word@position>heard".
missing = []
for tag, i1, i2, j1, j2 in m.get_opcodes():
    if tag == "delete":
        missing += [f"{said[i]}@{i}" for i in range(i1, i2)]
    elif tag == "replace":
        missing += [f"{said[i]}@{i}>{'_'.join(heard[j1:j2])}" for i in range(i1, i2)]
print(len(missing), len(said), " ".join(missing))
EOF
}

round() {
  local n=$1 kill_at=$2 out err
  out="$work/round-$n.txt"
  err="$work/round-$n.err"
  "$bin" transcribe "$work/speech.wav" --realtime --server "ws://127.0.0.1:$port/asr" >"$out" 2>"$err" &
  local pid=$!
  if [ "$kill_at" != "-" ]; then
    sleep "$kill_at"
    bash scripts/asr-server.sh --port "$port" --kill >/dev/null 2>&1
    sleep 1
    bash scripts/asr-server.sh --port "$port" --wait 300 >/dev/null 2>&1
  fi
  local rc=0
  wait "$pid" || rc=$?
  local lost
  lost=$(missing_words "$text" "$(cat "$out")")
  local resent=no
  grep -q "re-sending" "$err" && resent=yes
  printf '%-6s %-8s %-4s %-7s %s\n' "$n" "$kill_at" "$rc" "$resent" "$lost"
}

kill_server() {
  local rounds=$1
  espeak-ng -v en-gb -s 160 -w "$work/speech.wav" "$text"
  bash scripts/asr-server.sh --port "$port" --wait 300 >/dev/null
  echo "round  kill-at  rc   resent  missing-words of-words  (which)"
  round 0 -
  local i
  for i in $(seq 1 "$rounds"); do
    round "$i" "$(( (RANDOM % 12) + 3 ))"
  done
}

# The environment of ci/check.sh's end-to-end tests: this script's speech
# server, a virtual microphone, n8n's install. Then runs the integration
# test named $1 (cargo test: no per-test time limit, which nextest's
# profile has for CI), its output live.
e2e() {
  # shellcheck source=ci/virtual-mic.sh
  source ci/virtual-mic.sh
  trap 'stop_virtual_mic; bash scripts/asr-server.sh --port "$port" --stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  bash scripts/asr-server.sh --port "$port" --wait 300 >/dev/null
  start_virtual_mic "$work"
  export TONNYTRAY_TEST_SERVER_URL="ws://127.0.0.1:$port/asr"
  export TONNYTRAY_TEST_N8N_SCRIPT="$PWD/ci/n8n.sh"
  export TONNYTRAY_TEST_N8N_HOME="${TONNYTRAY_N8N_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/n8n}"
  cargo test -q -p tonnytray --test integration -- --ignored --exact "$1" --nocapture
}

[ $# -ge 1 ] || usage
case "$1" in
  kill-server) [ $# -eq 2 ] || usage; kill_server "$2" ;;
  soak)
    [ $# -eq 2 ] || usage
    cargo build --release -q -p tonnytray
    TONNYTRAY_TEST_APP_BIN="$PWD/target/release/tonnytray" TONNYTRAY_SOAK_SECONDS="$2" \
      e2e soak::soak_dictation_through_the_desktop_app
    ;;
  commands-n8n-down)
    [ $# -eq 2 ] || usage
    TONNYTRAY_TEST_COMMANDS="$2" \
      e2e e2e_commands::commands_spoken_while_n8n_is_down_all_arrive_in_order_once_it_is_back
    ;;
  *) usage ;;
esac
