#!/bin/sh
# Runs in the host's network namespace (network_mode: host). Listens on the
# docker0 address — what host.docker.internal (host-gateway) resolves to in
# the containers — and forwards to the app's listener on 127.0.0.1. The LAN
# does not see it: docker0 is a host-internal bridge.
set -eu
port="${TONNYTRAY_METRICS_PORT:-9477}"
bridge="${RELAY_BRIDGE:-docker0}"
gw=$(ip -4 -o addr show "$bridge" | awk '{print $4}' | cut -d/ -f1 | head -n 1)
if [ -z "$gw" ]; then
  echo "metrics-relay: $bridge has no IPv4 address; set RELAY_BRIDGE" >&2
  exit 1
fi
echo "metrics-relay: $gw:$port -> 127.0.0.1:$port" >&2
exec socat "TCP-LISTEN:$port,bind=$gw,fork,reuseaddr" "TCP:127.0.0.1:$port"
