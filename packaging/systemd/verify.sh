#!/usr/bin/env bash
# Checks the systemd user units with `systemd-analyze --user verify` and fails
# on ANY output (verify exits 0 on warnings).
#
#   bash packaging/systemd/verify.sh [UNIT...]    (default: packaging/systemd/*.service)
#
# verify also checks that each ExecStart= program exists and is executable.
# /usr/bin/tonnytray and /usr/share/tonnytray/asr-server.sh exist only where
# the .deb is installed, so the units are verified as copies in a temporary
# directory whose paths under /usr/bin/tonnytray and /usr/share/tonnytray/
# point at executable stand-ins there; every other line is verified as
# written. (The .deb test, app/tests/integration/package.rs, checks that the real paths
# are installed and executable.) --user needs a runtime dir: a temporary
# one is used when XDG_RUNTIME_DIR is unset.
set -euo pipefail
cd "$(dirname "$0")/../.."

units=("$@")
[ ${#units[@]} -gt 0 ] || units=(packaging/systemd/*.service)

tmp=$(mktemp -d /tmp/tonnytray-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/units" "$tmp/root/usr/bin" "$tmp/root/usr/share/tonnytray" "$tmp/run"
for stub in usr/bin/tonnytray usr/share/tonnytray/asr-server.sh; do
  printf '#!/bin/sh\nexit 0\n' >"$tmp/root/$stub"
  chmod 755 "$tmp/root/$stub"
done
for unit in "${units[@]}"; do
  sed -e "s#^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/bin/tonnytray\( \|\$\)#\1$tmp/root/usr/bin/tonnytray\2#" \
      -e "s#^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/share/tonnytray/#\1$tmp/root/usr/share/tonnytray/#" \
      "$unit" >"$tmp/units/$(basename "$unit")"
done

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$tmp/run}"
status=0
out=$(systemd-analyze --user verify "$tmp"/units/* 2>&1) || status=$?
if [ "$status" -ne 0 ] || [ -n "$out" ]; then
  printf '%s\n' "$out" | sed "s#$tmp/units/##g; s#$tmp/root##g" >&2
  echo "verify: FAILED (exit $status; any output counts as a failure)" >&2
  exit 1
fi
echo "verify: ${#units[@]} unit(s) OK (systemd-analyze --user verify printed nothing)"
