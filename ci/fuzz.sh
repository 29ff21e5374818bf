#!/usr/bin/env bash
# Fuzzing campaigns with cargo-fuzz (libFuzzer, AddressSanitizer) on the
# nightly toolchain. CI runs no campaign: it has only stable, and the unit
# tests in app/src/fuzzing replay the committed corpus with mutations
# instead (seconds per target). This is for the recorded runs in
# docs/RELIABILITY.md.
#
#   ci/fuzz.sh campaign SECONDS [TARGET...]
#       runs each target (default: all) for SECONDS, new inputs going to a
#       scratch corpus ($TONNYTRAY_FUZZ_WORK, default target/fuzz-work),
#       and prints one line per target: runs, new inputs, crashes.
#       A crash's input is in app/fuzz/artifacts/TARGET/.
#   ci/fuzz.sh merge TARGET
#       adds to app/fuzz/corpus/TARGET only the scratch inputs that reach
#       new code (libFuzzer's -merge=1), to commit.
#
# Needs: rustup's nightly toolchain, cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${TONNYTRAY_FUZZ_WORK:-$root/target/fuzz-work}
targets_all=(asr_messages wav settings profiles n8n_reply elevenlabs export socket_request store_file backup)

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

[ $# -ge 1 ] || usage
cd "$root/app/fuzz"
case "$1" in
  campaign)
    [ $# -ge 2 ] || usage
    seconds=$2
    shift 2
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")
    cargo +nightly fuzz build -O >/dev/null
    printf '%-16s %12s %8s %8s %s\n' target runs execs/s crashes log
    for t in "${targets[@]}"; do
      mkdir -p "$work/$t"
      log="$work/$t.log"
      # When redb panics while a damaged store is dropped (caught, as in
      # the app), the error value being returned is leaked: a few hundred
      # bytes once per damaged file. The store targets do not count leaks.
      leaks=()
      case "$t" in store_file | backup) leaks=(-detect_leaks=0) ;; esac
      set +e
      cargo +nightly fuzz run -O "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${leaks[@]}" >"$log" 2>&1
      set -e
      runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
      speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
      crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
      printf '%-16s %12s %8s %8s %s\n' "$t" "${runs:-?}" "${speed:-?}" "$crashes" "$log"
    done
    ;;
  merge)
    [ $# -eq 2 ] || usage
    cargo +nightly fuzz run -O "$2" "corpus/$2" "$work/$2" -- -merge=1
    ;;
  *) usage ;;
esac
