#!/usr/bin/env bash
# Sets up and runs TonnyTray on this machine: system packages, a local
# WhisperLiveKit server (offline tiny.en model), a release build, then the app:
# the desktop app (window, tray, hotkey) when there is a display — it starts
# the speech server itself and restarts it if it crashes — otherwise live
# dictation in the terminal (`tonnytray listen`) against a server started
# here in the background. Extra arguments go to the app, e.g. --hidden, or
# --seconds 30 without a display.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
echo "run: building (the first build takes several minutes)" >&2
cargo build --release -p tonnytray
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  bash scripts/asr-server.sh --install-only
  exec target/release/tonnytray "$@"
fi
bash scripts/asr-server.sh
echo "run: no display; dictating in the terminal instead (Ctrl+C stops)" >&2
exec target/release/tonnytray listen "$@"
