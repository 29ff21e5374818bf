#!/usr/bin/env bash
# A real n8n for the tests: installs it once into a cache directory, and
# starts/stops instances on loopback, each with its own data directory, so
# several run side by side and a stopped one starts again with its data.
#
# Each instance serves the test workflow ci/n8n/ask-tonny.json:
#   POST /webhook/ask-tonny         → {"reply": "You said: <text>"}
#   POST /webhook/ask-tonny-secure  → the same, behind a bearer token
#                                     ("Authorization: Bearer TOKEN"; 403 without)
#   GET  /webhook/tonny-received    → {"received": [...]} every command either
#                                     POST got, oldest first, duplicates included
# The record is a JSON-lines file in the instance's directory (D/received.jsonl),
# written by the workflow itself, so it survives a stop and start.
#
# Environment: TONNYTRAY_N8N_HOME (default ~/.cache/tonnytray/n8n) is where
# n8n is installed; TONNYTRAY_N8N_TOKEN is the bearer token when --token is
# not given.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: ci/n8n.sh install
       ci/n8n.sh installed
       ci/n8n.sh start --port P --dir D [--wait SECS] [--token TOKEN]
       ci/n8n.sh stop --dir D

install    npm-installs n8n (ci/n8n/package.json and its package-lock.json)
           into the cache directory unless that exact install is there
           already (about 12 minutes the first time).
installed  exits 0 when the install is complete, 1 otherwise.
start      starts an instance on 127.0.0.1:P with its data in D (log D/n8n.log,
           pid D/n8n.pid), imports and publishes the test workflow, and waits
           up to SECS (default 180) until its webhooks answer; prints the base
           URL. TOKEN (or TONNYTRAY_N8N_TOKEN) sets the bearer token of
           /webhook/ask-tonny-secure; without one a first start picks a random
           token and a restart keeps the previous one.
stop       stops the instance of D (and its task runner) and waits until its
           port is free.
EOF
}

die() {
  echo "n8n.sh: $*" >&2
  exit 1
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
package_dir="$script_dir/n8n"
n8n_home="${TONNYTRAY_N8N_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/n8n}"
workflow_id=tonnyAskTonny001
credential_id=tonnyTestBearer1

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free loopback port for the instance's task broker, picked at random so
# that instances starting at the same moment rarely pick the same one.
free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 10000))
    port_in_use "$p" || { echo "$p"; return; }
  done
  die "no free port found for the task broker (tried 50 in 20000-29999)"
}

# What an install is made from: the package and its lock file (the exact
# dependency tree that was tested).
manifest() {
  cat "$package_dir/package.json" "$package_dir/package-lock.json"
}

is_installed() {
  [ -x "$n8n_home/node_modules/.bin/n8n" ] &&
    manifest | cmp -s - "$n8n_home/.installed-manifest" 2>/dev/null
}

install() {
  command -v npm >/dev/null 2>&1 || die "npm is missing: run scripts/install-deps.sh"
  local node_major
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$node_major" -ge 20 ] || die "n8n 2.8 needs Node.js >= 20.19; this is $(node --version)"
  mkdir -p "$n8n_home"
  # One install at a time per cache directory (CI and a developer may race).
  exec 9>"$n8n_home/.install.lock"
  flock 9
  if is_installed; then
    echo "n8n.sh: n8n is already installed in $n8n_home" >&2
    return
  fi
  echo "n8n.sh: installing n8n into $n8n_home (about 12 minutes)" >&2
  rm -f "$n8n_home/.installed-manifest"
  cp "$package_dir/package.json" "$package_dir/package-lock.json" "$n8n_home/"
  local started=$SECONDS
  # npm ci installs exactly the locked tree (the overrides pin xlsx to the
  # registry's 0.18.5; n8n-nodes-base otherwise wants a tarball elsewhere).
  (cd "$n8n_home" && npm ci --no-audit --no-fund --loglevel=error)
  [ -x "$n8n_home/node_modules/.bin/n8n" ] || die "npm ci finished without node_modules/.bin/n8n"
  manifest >"$n8n_home/.installed-manifest"
  echo "n8n.sh: installed in $((SECONDS - started))s" >&2
}

# The environment of an instance in directory $1 listening on port $2 (the
# CLI commands that import and publish need the same data directory).
instance_env() {
  local dir=$1 port=$2
  export N8N_USER_FOLDER="$dir"
  export N8N_PORT="$port" N8N_LISTEN_ADDRESS=127.0.0.1 N8N_HOST=127.0.0.1 N8N_PROTOCOL=http
  export WEBHOOK_URL="http://127.0.0.1:$port/"
  export N8N_RUNNERS_BROKER_LISTEN_ADDRESS=127.0.0.1
  # Nothing may leave the machine: no telemetry, banners, news or licence calls.
  export N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false
  export N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED=false N8N_PERSONALIZATION_ENABLED=false
  export N8N_TEMPLATES_ENABLED=false N8N_HIRING_BANNER_ENABLED=false
  export N8N_DYNAMIC_BANNERS_ENABLED=false N8N_LICENSE_AUTO_RENEW_ENABLED=false
  export N8N_COMMUNITY_PACKAGES_ENABLED=false N8N_AI_ENABLED=false
  export N8N_PUBLIC_API_DISABLED=true N8N_WORKFLOW_AUTODEACTIVATION_ENABLED=false N8N_PYTHON_ENABLED=false
  export N8N_SECURE_COOKIE=false N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true
  export N8N_GRACEFUL_SHUTDOWN_TIMEOUT=10 GENERIC_TIMEZONE=UTC
  # The workflow's Code nodes keep the record in a file.
  export NODE_FUNCTION_ALLOW_BUILTIN=fs
}

n8n_cli() {
  "$n8n_home/node_modules/.bin/n8n" "$@" >>"$N8N_USER_FOLDER/n8n-cli.log" 2>&1 ||
    {
      tail -n 20 "$N8N_USER_FOLDER/n8n-cli.log" >&2
      die "'n8n $1' failed (log: $N8N_USER_FOLDER/n8n-cli.log)"
    }
}

# Imports the bearer credential when none exists yet or the token changed
# (D/credential.sha256 keeps a hash of the token, never the token).
import_credential() {
  local dir=$1 token=$2
  if [ -z "$token" ]; then
    [ -f "$dir/credential.sha256" ] && return
    token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  fi
  local hash
  hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
  [ -f "$dir/credential.sha256" ] && [ "$(cat "$dir/credential.sha256")" = "$hash" ] && return
  # The file holds the token only until n8n has imported (and encrypted) it.
  local file="$dir/credential.json"
  (
    umask 077
    # shellcheck disable=SC2016 # JavaScript, not shell
    TOKEN="$token" ID="$credential_id" node -e '
      const value = `Bearer ${process.env.TOKEN}`;
      process.stdout.write(JSON.stringify([{ id: process.env.ID, name: "TonnyTray test bearer",
        type: "httpHeaderAuth", data: { name: "Authorization", value } }]));' >"$file"
  )
  local rc=0
  (n8n_cli import:credentials --input="$file") || rc=$?
  rm -f "$file"
  [ "$rc" -eq 0 ] || exit "$rc"
  echo "$hash" >"$dir/credential.sha256"
}

# Imports and publishes the workflow unless this directory has this version.
import_workflow() {
  local dir=$1
  local rendered="$dir/ask-tonny.workflow.json"
  RECORD="$dir/received.jsonl" node -e '
    const fs = require("fs");
    const template = fs.readFileSync(process.argv[1], "utf8");
    // The path goes into a JavaScript string inside a JSON string.
    const inJs = JSON.stringify(process.env.RECORD).slice(1, -1);
    const inJson = JSON.stringify(inJs).slice(1, -1);
    process.stdout.write(template.split("__TONNY_RECORD_FILE__").join(inJson));' \
    "$package_dir/ask-tonny.json" >"$rendered.new"
  if cmp -s "$rendered.new" "$rendered" && [ -f "$dir/workflow-published" ]; then
    rm -f "$rendered.new"
    return
  fi
  mv "$rendered.new" "$rendered"
  rm -f "$dir/workflow-published"
  n8n_cli import:workflow --input="$rendered"
  n8n_cli publish:workflow --id="$workflow_id"
  touch "$dir/workflow-published"
}

start() {
  local port="" dir="" wait_secs=180 token="${TONNYTRAY_N8N_TOKEN:-}"
  while [ $# -gt 0 ]; do
    case $1 in
      --port) port=${2:?--port needs a value}; shift 2 ;;
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      --wait) wait_secs=${2:?--wait needs a value}; shift 2 ;;
      --token) token=${2:?--token needs a value}; shift 2 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  if [ -z "$port" ] || [ -z "$dir" ]; then
    usage >&2
    die "start needs --port and --dir"
  fi
  is_installed || die "n8n is not installed in $n8n_home: run 'ci/n8n.sh install' first"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/n8n.pid" ] && kill -0 "$(cat "$dir/n8n.pid")" 2>/dev/null; then
    die "an instance already runs for $dir (pid $(cat "$dir/n8n.pid")): stop it first"
  fi
  port_in_use "$port" && die "port $port is already in use: choose another --port"
  local started=$SECONDS
  instance_env "$dir" "$port"
  import_credential "$dir" "$token"
  import_workflow "$dir"
  local prepared=$((SECONDS - started))
  N8N_RUNNERS_BROKER_PORT=$(free_port)
  export N8N_RUNNERS_BROKER_PORT
  echo "$port" >"$dir/n8n.port"
  # setsid gives the instance its own process group (n8n and its task
  # runner), out of reach of a test runner's Ctrl-C; stop ends the group.
  local log_lines pid
  touch "$dir/n8n.log"
  log_lines=$(wc -l <"$dir/n8n.log")
  setsid "$n8n_home/node_modules/.bin/n8n" start >>"$dir/n8n.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/n8n.pid"
  echo "n8n.sh: starting n8n on 127.0.0.1:$port (pid $pid, log: $dir/n8n.log)" >&2
  # /healthz answers before webhooks are registered: poll the webhook itself.
  local deadline=$((SECONDS + wait_secs))
  until curl -fsS --max-time 5 "http://127.0.0.1:$port/webhook/tonny-received" 2>/dev/null | grep -q '"received"'; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n +"$((log_lines + 1))" "$dir/n8n.log" | tail -n 30 >&2
      die "n8n exited while starting (log: $dir/n8n.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n +"$((log_lines + 1))" "$dir/n8n.log" | tail -n 30 >&2
      die "the webhook did not answer within ${wait_secs}s (log: $dir/n8n.log)"
    fi
    sleep 0.5
  done
  echo "n8n.sh: ready after $((SECONDS - started))s (import/publish ${prepared}s)" >&2
  echo "http://127.0.0.1:$port"
}

stop() {
  local dir=""
  while [ $# -gt 0 ]; do
    case $1 in
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  [ -n "$dir" ] || { usage >&2; die "stop needs --dir"; }
  [ -d "$dir" ] || return 0
  local pid="" port=""
  [ -f "$dir/n8n.pid" ] && pid=$(cat "$dir/n8n.pid")
  [ -f "$dir/n8n.port" ] && port=$(cat "$dir/n8n.port")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # TERM lets n8n finish running executions (N8N_GRACEFUL_SHUTDOWN_TIMEOUT)
    # and stop its task runner; the whole group goes if it takes too long.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do
      kill -0 -- "-$pid" 2>/dev/null || break
      [ "$i" -lt 60 ] || kill -KILL -- "-$pid" 2>/dev/null || true
      sleep 0.5
    done
  fi
  rm -f "$dir/n8n.pid"
  if [ -n "$port" ]; then
    local j
    for j in $(seq 1 40); do
      port_in_use "$port" || break
      [ "$j" -lt 40 ] || die "port $port is still in use after stopping the instance of $dir"
      sleep 0.25
    done
  fi
  echo "n8n.sh: stopped the instance of $dir" >&2
}

case ${1:-} in
  install) shift; install ;;
  installed) is_installed || exit 1 ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
