#!/usr/bin/env bash
# Sets up and runs TonnyTray on this machine: system packages, a local
# WhisperLiveKit server (offline tiny.en model), a release build, then the app.
# For now "the app" is live dictation from the default microphone
# (`tonnytray listen`); extra arguments go to it, e.g. --seconds 30.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/asr-server.sh
echo "run: building (the first build takes several minutes)" >&2
cargo build --release -p tonnytray
exec target/release/tonnytray listen "$@"
