#!/usr/bin/env bash
# Brings TonnyTray's history store to the current schema (the app also does
# this at start), or shows its version with --status. A thin wrapper over
# `tonnytray migrate`.
#
#   scripts/migrate.sh [--status] [--db FILE]
set -euo pipefail
bin="${TONNYTRAY_BIN:-$(command -v tonnytray || echo "$(dirname "$0")/../target/release/tonnytray")}"
exec "$bin" migrate "$@"
