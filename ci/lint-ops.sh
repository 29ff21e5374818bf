#!/usr/bin/env bash
# Static checks of everything operational: CI workflows, dependabot, the
# backend compose stack, Prometheus config/alerts (with their unit tests),
# the Grafana dashboard, the systemd user units, the desktop entry and the
# deploy/packaging shell scripts. Nothing here needs Docker, a network or a
# running service. Every check runs; the script fails at the end, naming
# each check that failed with the tool's own message.
#
#   bash ci/lint-ops.sh
#
# Tools come from ci/ops-tools.sh (pip: actionlint, check-jsonschema,
# optional docker-compose v1; Debian: promtool, systemd-analyze,
# desktop-file-validate, shellcheck). Called by ci/check.sh and by
# .github/workflows/ci.yml.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "lint-ops: $*" >&2; }

# Tool paths, one KEY=PATH line each (see ci/ops-tools.sh).
ACTIONLINT="" CHECK_JSONSCHEMA="" DOCKER_COMPOSE="" PROMTOOL=""
DESKTOP_FILE_VALIDATE="" SHELLCHECK=""
tools=$(bash ci/ops-tools.sh) || { say "FAILED: ci/ops-tools.sh could not provide the checkers (see above)"; exit 1; }
while IFS='=' read -r key value; do
  case "$key" in
    ACTIONLINT) ACTIONLINT=$value ;;
    CHECK_JSONSCHEMA) CHECK_JSONSCHEMA=$value ;;
    DOCKER_COMPOSE) DOCKER_COMPOSE=$value ;;
    PROMTOOL) PROMTOOL=$value ;;
    DESKTOP_FILE_VALIDATE) DESKTOP_FILE_VALIDATE=$value ;;
    SHELLCHECK) SHELLCHECK=$value ;;
  esac
done <<<"$tools"
venv_python="$(dirname "$CHECK_JSONSCHEMA")/python"

tmp=$(mktemp -d /tmp/tonnytray-lint-ops.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

failed=()
passed=0
skipped=()

# check NAME COMMAND...: runs the command with its output captured; shows
# the output only when it fails. The command runs as an `if` condition, where
# `set -e` is off: the check functions below end each step with `|| return 1`.
check() {
  local name=$1
  shift
  if "$@" >"$tmp/out" 2>&1; then
    passed=$((passed + 1))
    say "ok    $name"
  else
    failed+=("$name")
    say "FAIL  $name"
    sed 's/^/    /' "$tmp/out" >&2
  fi
}

# silent COMMAND...: fails when the command fails OR prints anything — for
# tools that exit 0 on warnings.
silent() {
  local out status=0
  out=$("$@" 2>&1) || status=$?
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out"
    echo "(exit $status; any output counts as a failure)"
    return 1
  fi
}

need_file() {
  local f
  for f in "$@"; do
    [ -e "$f" ] || { echo "missing: $f"; return 1; }
  done
}

# --- GitHub: workflows and dependabot ---------------------------------------
workflows() {
  [ -d .github/workflows ] || { echo ".github/workflows does not exist: there are no CI workflows to check"; return 1; }
  local files=()
  shopt -s nullglob
  files=(.github/workflows/*.yml .github/workflows/*.yaml)
  shopt -u nullglob
  [ "${#files[@]}" -gt 0 ] || { echo ".github/workflows has no *.yml or *.yaml file"; return 1; }
  echo "actionlint on ${files[*]}"
  "$ACTIONLINT" -shellcheck "$SHELLCHECK" -pyflakes= "${files[@]}" || return 1
}
check "actionlint .github/workflows" workflows

dependabot() {
  need_file .github/dependabot.yml || return 1
  "$CHECK_JSONSCHEMA" --builtin-schema vendor.dependabot .github/dependabot.yml || return 1
}
check "dependabot.yml against the dependabot schema" dependabot

# --- deploy/: compose and its .env ------------------------------------------
compose_schema() {
  need_file deploy/compose.yaml || return 1
  # check-jsonschema ships the compose-spec schema (vendor.compose-spec), so
  # this works offline; nothing is vendored in ci/schemas/.
  "$CHECK_JSONSCHEMA" --builtin-schema vendor.compose-spec deploy/compose.yaml || return 1
  # The spec allows a top-level name:, docker-compose v1 rejects it.
  if grep -n '^name:' deploy/compose.yaml; then
    echo "deploy/compose.yaml: remove the top-level name: (docker-compose v1 rejects it)"
    return 1
  fi
}
check "compose.yaml against the compose-spec schema" compose_schema

# Every ${VAR} the compose file reads is documented in .env.example, and every
# key there is used somewhere in deploy/ or documented as read by the app.
env_keys() {
  need_file deploy/compose.yaml deploy/.env.example || return 1
  local used keys missing
  used=$(grep -oE '[$][{][A-Z_][A-Z0-9_]*' deploy/compose.yaml | cut -c3- | sort -u)
  keys=$(grep -E '^[A-Z_][A-Z0-9_]*=' deploy/.env.example | cut -d= -f1 | sort)
  if [ -n "$(printf '%s\n' "$keys" | uniq -d)" ]; then
    echo "deploy/.env.example repeats: $(printf '%s\n' "$keys" | uniq -d | tr '\n' ' ')"
    return 1
  fi
  missing=$(comm -23 <(printf '%s\n' "$used") <(printf '%s\n' "$keys"))
  if [ -n "$missing" ]; then
    echo "deploy/compose.yaml reads variables that deploy/.env.example does not define: $missing"
    return 1
  fi
  if [ -f scripts/validate-env.sh ]; then
    echo "scripts/validate-env.sh deploy/.env.example"
    bash scripts/validate-env.sh deploy/.env.example || return 1
  else
    echo "scripts/validate-env.sh is missing: cannot check deploy/.env.example with it"
    return 1
  fi
}
check "deploy/.env.example (keys used by compose, validate-env.sh)" env_keys

if [ -n "$DOCKER_COMPOSE" ]; then
  compose_config() {
    # No Docker engine is needed for `config`; the example .env provides the
    # variables (the required passwords among them).
    "$DOCKER_COMPOSE" --project-directory deploy --env-file "$PWD/deploy/.env.example" \
      -f deploy/compose.yaml config -q || return 1
  }
  check "docker-compose (v1) config -q" compose_config
else
  skipped+=("docker-compose config (docker-compose v1 did not install; the schema check still ran)")
fi

shell_scripts() {
  local files=()
  mapfile -t files < <(find deploy packaging -type f -name '*.sh' 2>/dev/null | sort)
  [ "${#files[@]}" -gt 0 ] || { echo "no shell scripts under deploy/ or packaging/"; return 0; }
  echo "shellcheck ${files[*]}"
  "$SHELLCHECK" "${files[@]}" || return 1
}
check "shellcheck deploy/ and packaging/ scripts" shell_scripts

# --- Prometheus -------------------------------------------------------------
check "promtool check config deploy/prometheus/prometheus.yml" \
  "$PROMTOOL" check config deploy/prometheus/prometheus.yml
check "promtool check rules deploy/prometheus/alerts.yml" \
  "$PROMTOOL" check rules deploy/prometheus/alerts.yml
check "promtool test rules deploy/prometheus/alerts.test.yml" \
  "$PROMTOOL" test rules deploy/prometheus/alerts.test.yml

# --- Grafana ----------------------------------------------------------------
# The dashboard is valid JSON, uses the provisioned datasource, shows every
# metric the app defines (app/src/telemetry/metrics.rs), and each panel query
# is valid PromQL (promtool parses them as recording rules, with Grafana's
# $__ variables replaced by a 5m window).
dashboard() {
  need_file deploy/grafana/dashboards/tonnytray.json \
    deploy/grafana/provisioning/datasources/prometheus.yml \
    deploy/grafana/provisioning/dashboards/tonnytray.yml || return 1
  "$venv_python" - "$tmp/dashboard-rules.yml" <<'PY' || return 1
import json, pathlib, re, sys
from ruamel.yaml import YAML

yaml = YAML(typ="safe")
dash = json.loads(pathlib.Path("deploy/grafana/dashboards/tonnytray.json").read_text())
sources = yaml.load(pathlib.Path("deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
providers = yaml.load(pathlib.Path("deploy/grafana/provisioning/dashboards/tonnytray.yml").read_text())
uids = {d["uid"] for d in sources["datasources"]}
problems = []
if not providers.get("providers"):
    problems.append("provisioning/dashboards/tonnytray.yml has no providers")
exprs = []
for panel in dash["panels"]:
    for t in panel.get("targets", []):
        uid = (t.get("datasource") or panel.get("datasource") or {}).get("uid")
        if uid not in uids:
            problems.append(f"panel {panel['title']!r}: datasource uid {uid!r} is not provisioned ({sorted(uids)})")
        exprs.append((panel["title"], t["expr"]))
text = "\n".join(e for _, e in exprs)
src = pathlib.Path("app/src/telemetry/metrics.rs")
if src.exists():
    names = re.findall(r'pub const [A-Z0-9_]+: &str = "(tonnytray_[a-z0-9_]+)"', src.read_text())
    if not names:
        problems.append(f"{src}: found no metric names")
else:
    problems.append(f"{src} is missing: cannot check that the dashboard covers the app's metrics")
    names = []
for name in names:
    if not re.search(re.escape(name) + r"(_bucket|_sum|_count)?\b", text):
        problems.append(f"the dashboard has no panel for {name}")
rules = {"groups": [{"name": "dashboard", "rules": [
    {"record": f"dashboard:panel{i}", "expr": re.sub(r"\$__\w+", "5m", e)}
    for i, (_, e) in enumerate(exprs)]}]}
with open(sys.argv[1], "w") as f:
    json.dump(rules, f)  # JSON is YAML
print(f"{len(exprs)} queries, {len(names)} app metrics covered")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
  "$PROMTOOL" check rules "$tmp/dashboard-rules.yml" || return 1
}
check "Grafana dashboard and provisioning" dashboard

# --- packaging: systemd units and the desktop entry -------------------------
systemd_units() {
  # packaging/systemd/verify.sh runs `systemd-analyze --user verify` on
  # copies of the units whose ExecStart programs (/usr/bin/tonnytray,
  # /usr/share/tonnytray/asr-server.sh, present only where the .deb is
  # installed) point at executable stand-ins, so every other line is checked
  # as written, and it fails on ANY output: verify exits 0 on warnings.
  need_file packaging/systemd/verify.sh || return 1
  local units=()
  shopt -s nullglob
  units=(packaging/systemd/*.service)
  shopt -u nullglob
  [ "${#units[@]}" -gt 0 ] || { echo "no packaging/systemd/*.service units"; return 1; }
  bash packaging/systemd/verify.sh "${units[@]}" || return 1
}
check "systemd-analyze --user verify packaging/systemd/*.service (must print nothing)" systemd_units

desktop_entries() {
  local files=()
  shopt -s nullglob
  files=(packaging/*.desktop)
  shopt -u nullglob
  [ "${#files[@]}" -gt 0 ] || { echo "no packaging/*.desktop file"; return 1; }
  echo "desktop-file-validate ${files[*]}"
  silent "$DESKTOP_FILE_VALIDATE" "${files[@]}" || return 1
}
check "desktop-file-validate packaging/*.desktop (must print nothing)" desktop_entries

# --- summary ----------------------------------------------------------------
for s in "${skipped[@]}"; do
  say "skipped: $s"
done
total=$((passed + ${#failed[@]}))
if [ "${#failed[@]}" -gt 0 ]; then
  say "${#failed[@]} of $total checks FAILED:"
  for f in "${failed[@]}"; do
    say "  - $f"
  done
  exit 1
fi
say "all $total checks OK"
