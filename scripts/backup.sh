#!/usr/bin/env bash
# Backs up TonnyTray's history store (safe while the app runs), then prunes
# old backups by the retention settings (backup.keep_daily/weekly/monthly).
# A thin wrapper over `tonnytray backup`; for cron or a systemd timer.
#
#   scripts/backup.sh [--dir DIR] [--no-prune] [--list]
set -euo pipefail
bin="${TONNYTRAY_BIN:-$(command -v tonnytray || echo "$(dirname "$0")/../target/release/tonnytray")}"
dir=() prune=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir=(--dir "$2"); shift 2 ;;
    --no-prune) prune=0; shift ;;
    --list) exec "$bin" backup --list "${dir[@]}" ;;
    *) echo "usage: $0 [--dir DIR] [--no-prune] [--list]" >&2; exit 2 ;;
  esac
done
"$bin" backup "${dir[@]}"
if [ "$prune" = 1 ]; then "$bin" backup --prune "${dir[@]}"; fi
