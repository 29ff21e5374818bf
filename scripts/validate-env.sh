#!/usr/bin/env bash
# Checks the backend stack's env file (deploy/compose.yaml reads deploy/.env)
# before a deploy: every key present and well-formed, all ports different,
# and for TONNYTRAY_ENV=production no default or short passwords, no plain
# http webhook to another host, no public bind address (unless
# ALLOW_PUBLIC_BIND=1, in the file or the environment) and no trace/debug
# logging.
#
#   scripts/validate-env.sh [FILE]     FILE defaults to deploy/.env
#
# The file is read as KEY=VALUE lines (# comments, blank lines, an optional
# "export ", optional single or double quotes around the value); it is never
# sourced, so nothing in it runs. Prints every problem, one per line naming
# the key, and exits 1; otherwise prints "ok: N keys" and exits 0. Unknown
# keys are warnings. Password values are never printed.
set -euo pipefail

die() { echo "validate-env: $*" >&2; exit 1; }
say() { echo "validate-env: $*" >&2; }

case "${1:-}" in
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) die "unknown option '$1' (see --help)" ;;
esac
[ $# -le 1 ] || die "one file at most (see --help)"
file="${1:-$(cd "$(dirname "$0")/.." && pwd)/deploy/.env}"
if [ ! -f "$file" ]; then
  case "$file" in
    */deploy/.env) die "$file does not exist; copy deploy/.env.example to deploy/.env and edit it" ;;
    *) die "$file does not exist" ;;
  esac
fi
[ -r "$file" ] || die "$file is not readable"

required=(
  TONNYTRAY_ENV BIND_ADDRESS WLK_PORT WLK_MODEL WLK_LANGUAGE
  RABBITMQ_PORT RABBITMQ_MANAGEMENT_PORT RABBITMQ_DEFAULT_USER RABBITMQ_DEFAULT_PASS
  PROMETHEUS_PORT GRAFANA_PORT GRAFANA_ADMIN_USER GRAFANA_ADMIN_PASSWORD
  TONNYTRAY_METRICS_PORT N8N_WEBHOOK_URL LOG_LEVEL
)
optional=(ALLOW_PUBLIC_BIND)
ports=(WLK_PORT RABBITMQ_PORT RABBITMQ_MANAGEMENT_PORT PROMETHEUS_PORT GRAFANA_PORT TONNYTRAY_METRICS_PORT)
passwords=(RABBITMQ_DEFAULT_PASS GRAFANA_ADMIN_PASSWORD)

problems=()
problem() { problems+=("$1"); }
warn() { say "warning: $1"; }

# A (non-secret) value for a message: quoted, control characters replaced,
# cut at 40. Passwords and the webhook URL (its path is as good as a token)
# are never passed here.
shown() {
  local v=${1//[[:cntrl:]]/?}
  [ "${#v}" -le 40 ] || v="${v:0:40}..."
  printf "'%s'" "$v"
}

declare -A val=() line_of=()
keys=()
n=0
while IFS= read -r raw || [ -n "$raw" ]; do
  n=$((n + 1))
  l=${raw%$'\r'}
  l="${l#"${l%%[![:space:]]*}"}"
  case "$l" in ''|'#'*) continue ;; esac
  if [[ $l =~ ^export[[:space:]]+(.*)$ ]]; then l=${BASH_REMATCH[1]}; fi
  if [[ $l != *=* ]]; then
    problem "line $n: not a KEY=VALUE line"
    continue
  fi
  key=${l%%=*}
  key="${key%"${key##*[![:space:]]}"}"
  v=${l#*=}
  v="${v#"${v%%[![:space:]]*}"}"
  if [[ ! $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    problem "line $n: the part before '=' is not a key name (letters, digits and _)"
    continue
  fi
  quoted=""
  if [[ $v == \"* ]]; then
    if [[ $v =~ ^\"(([^\"\\]|\\.)*)\"[[:space:]]*(#.*)?$ ]]; then
      v=${BASH_REMATCH[1]}; v=${v//\\\"/\"}; quoted=double
    else
      problem "$key (line $n): the opening double quote is not closed"
      continue
    fi
  elif [[ $v == \'* ]]; then
    if [[ $v =~ ^\'([^\']*)\'[[:space:]]*(#.*)?$ ]]; then
      v=${BASH_REMATCH[1]}; quoted=single
    else
      problem "$key (line $n): the opening single quote is not closed"
      continue
    fi
  else
    v=$(sed 's/[[:space:]]#.*$//; s/[[:space:]]*$//' <<<"$v")
  fi
  if [ -n "${val[$key]+set}" ]; then
    warn "$key is set twice (lines ${line_of[$key]} and $n); the last one counts"
  else
    keys+=("$key")
  fi
  val[$key]=$v
  line_of[$key]=$n
  if [ "$quoted" != single ] && [[ $v == *'$'* ]]; then
    warn "$key contains '\$', which docker compose expands in .env files; write \$\$ or put the value in single quotes"
  fi
done <"$file"

has() { [ -n "${val[$1]+set}" ]; }
get() { printf '%s' "${val[$1]-}"; }

for k in "${keys[@]+"${keys[@]}"}"; do
  known=0
  for r in "${required[@]}" "${optional[@]}"; do [ "$k" = "$r" ] && known=1; done
  [ "$known" = 1 ] || warn "$k (line ${line_of[$k]}) is not a key the stack uses; a typo?"
done

for k in "${required[@]}"; do
  if ! has "$k"; then
    problem "$k: missing"
  elif [ -z "$(get "$k")" ]; then
    problem "$k: empty"
  fi
done

set_nonempty() { has "$1" && [ -n "$(get "$1")" ]; }

ipv4() { # prints nothing; status 0 for a dotted-quad IPv4 address
  local a b c d
  [[ $1 =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]} c=${BASH_REMATCH[3]} d=${BASH_REMATCH[4]}
  [ $((10#$a)) -le 255 ] && [ $((10#$b)) -le 255 ] && [ $((10#$c)) -le 255 ] && [ $((10#$d)) -le 255 ]
}

env_kind=""
if set_nonempty TONNYTRAY_ENV; then
  env_kind=$(get TONNYTRAY_ENV)
  case "$env_kind" in
    development|production) ;;
    *) problem "TONNYTRAY_ENV: $(shown "$env_kind") is not development or production"; env_kind="" ;;
  esac
fi

if set_nonempty BIND_ADDRESS && ! ipv4 "$(get BIND_ADDRESS)"; then
  problem "BIND_ADDRESS: $(shown "$(get BIND_ADDRESS)") is not an IPv4 address (e.g. 127.0.0.1)"
fi

declare -A port_owner=()
for k in "${ports[@]}"; do
  set_nonempty "$k" || continue
  p=$(get "$k")
  if [[ ! $p =~ ^[0-9]{1,5}$ ]] || [ $((10#$p)) -lt 1 ] || [ $((10#$p)) -gt 65535 ]; then
    problem "$k: $(shown "$p") is not a port number (1-65535)"
    continue
  fi
  p=$((10#$p))
  if [ -n "${port_owner[$p]+set}" ]; then
    problem "$k: port $p is already taken by ${port_owner[$p]}; every service needs its own"
  else
    port_owner[$p]=$k
  fi
done

if set_nonempty WLK_MODEL; then
  case "$(get WLK_MODEL)" in
    tiny.en|tiny|base.en|base|small.en|small|medium.en|medium|large-v3|large-v3-turbo) ;;
    *) problem "WLK_MODEL: $(shown "$(get WLK_MODEL)") is not one of tiny.en, tiny, base.en, base, small.en, small, medium.en, medium, large-v3, large-v3-turbo" ;;
  esac
fi

if set_nonempty WLK_LANGUAGE && [[ ! $(get WLK_LANGUAGE) =~ ^([a-z]{2}|auto)$ ]]; then
  problem "WLK_LANGUAGE: $(shown "$(get WLK_LANGUAGE)") is not a two-letter language code (en, de, ...) or auto"
fi

if set_nonempty LOG_LEVEL; then
  case "$(get LOG_LEVEL)" in
    trace|debug|info|warn|error) ;;
    *) problem "LOG_LEVEL: $(shown "$(get LOG_LEVEL)") is not one of trace, debug, info, warn, error" ;;
  esac
fi

for k in RABBITMQ_DEFAULT_USER GRAFANA_ADMIN_USER; do
  if set_nonempty "$k" && [[ $(get "$k") =~ [[:space:][:cntrl:]] ]]; then
    problem "$k: contains spaces or control characters"
  fi
done

# N8N_WEBHOOK_URL: scheme and host, for the production rule below.
url_scheme="" url_host=""
if set_nonempty N8N_WEBHOOK_URL; then
  url=$(get N8N_WEBHOOK_URL)
  if [[ $url =~ ^(https?)://([^/?#[:space:]]+)([/?#][^[:space:]]*)?$ ]]; then
    url_scheme=${BASH_REMATCH[1]}
    authority=${BASH_REMATCH[2]##*@}
    if [[ $authority =~ ^(\[[0-9A-Fa-f:.]+\])(:([0-9]+))?$ ]] || [[ $authority =~ ^([^:]+)(:([0-9]+))?$ ]]; then
      url_host=${BASH_REMATCH[1]}
      url_port=${BASH_REMATCH[3]}
      if [ -n "$url_port" ] && { [ "${#url_port}" -gt 5 ] || [ $((10#$url_port)) -lt 1 ] || [ $((10#$url_port)) -gt 65535 ]; }; then
        problem "N8N_WEBHOOK_URL: the port is not 1-65535"
      fi
    else
      problem "N8N_WEBHOOK_URL: the host part is not a host name or address (with an optional :port)"
    fi
  else
    problem "N8N_WEBHOOK_URL: not an http:// or https:// URL with a host (and no spaces)"
  fi
fi

loopback_host() {
  case "${1,,}" in
    localhost|*.localhost|'[::1]') return 0 ;;
  esac
  ipv4 "$1" && [[ $1 == 127.* ]]
}

allow_public="${val[ALLOW_PUBLIC_BIND]-${ALLOW_PUBLIC_BIND:-0}}"
case "$allow_public" in
  0|1|'') ;;
  *) problem "ALLOW_PUBLIC_BIND: $(shown "$allow_public") is not 0 or 1" ;;
esac

if [ "$env_kind" = production ]; then
  for k in "${passwords[@]}"; do
    set_nonempty "$k" || continue
    pw=$(get "$k")
    case "${pw,,}" in
      change-me|changeme|admin|guest|password)
        problem "$k: still a default or placeholder password; set a real one for production" ;;
      *)
        [ "${#pw}" -ge 12 ] || problem "$k: shorter than 12 characters; production needs a longer password" ;;
    esac
  done
  if [ "$url_scheme" = http ] && [ -n "$url_host" ] && ! loopback_host "$url_host"; then
    problem "N8N_WEBHOOK_URL: plain http to $url_host in production; use https:// (http is fine only to a loopback host)"
  fi
  if set_nonempty BIND_ADDRESS && ipv4 "$(get BIND_ADDRESS)" && ! loopback_host "$(get BIND_ADDRESS)" && [ "$allow_public" != 1 ]; then
    problem "BIND_ADDRESS: $(get BIND_ADDRESS) publishes every port beyond this machine in production; use 127.0.0.1, or set ALLOW_PUBLIC_BIND=1 if a firewall is in front"
  fi
  case "$(get LOG_LEVEL)" in
    trace|debug) problem "LOG_LEVEL: $(get LOG_LEVEL) logs too much for production (it can include transcripts); use info, warn or error" ;;
  esac
fi

if [ "${#problems[@]}" -gt 0 ]; then
  for p in "${problems[@]}"; do echo "validate-env: $p" >&2; done
  die "$file: ${#problems[@]} problem(s)"
fi
echo "ok: ${#keys[@]} keys in $file (${env_kind})"
