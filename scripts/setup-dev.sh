#!/usr/bin/env bash
# Prepares a checkout for contributing: the system packages
# (scripts/install-deps.sh), the rustfmt and clippy components, cargo-nextest,
# a git pre-commit hook that runs `cargo fmt --check` and clippy, and the
# local speech server the end-to-end tests use (scripts/asr-server.sh
# --install-only: ~6 GB, several minutes).
#
#   scripts/setup-dev.sh              set everything up (safe to run again)
#   scripts/setup-dev.sh --check      only report what is missing; exit 1 if anything is
#   scripts/setup-dev.sh --no-server  leave out the speech server
#   scripts/setup-dev.sh --hook-only  only install or update the pre-commit hook
#
# A pre-commit hook that is not ours is never overwritten: it is moved to
# pre-commit.local, which our hook runs first. `git commit --no-verify`
# skips the hook.
set -euo pipefail

die() { echo "setup-dev: $*" >&2; exit 1; }
say() { echo "setup-dev: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
venv="${TONNYTRAY_ASR_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/tonnytray/asr-venv}"
marker="# tonnytray pre-commit hook"

mode=setup server=1
while [ $# -gt 0 ]; do
  case "$1" in
    --check) mode=check; shift ;;
    --no-server) server=0; shift ;;
    --hook-only) mode=hook; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

cd "$root"

# ---------------------------------------------------------------- checks
# Each prints one line and returns 1 when the thing is missing.

missing=()
report() { # STATE WHAT DETAIL
  printf '  %-8s %-22s %s\n' "$1" "$2" "$3"
  [ "$1" = missing ] && missing+=("$2")
  return 0
}

# The package list lives in install-deps.sh; read it from there so the two
# never drift apart.
deps_packages() {
  sed -n '/^packages=(/,/^)/p' "$here/install-deps.sh" | sed '1d;$d; s/#.*//' | tr -s ' \t' '\n' | sed '/^$/d'
}

check_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    report "unknown" "system packages" "no dpkg here; see the list in scripts/install-deps.sh"
    return
  fi
  local p absent=()
  while IFS= read -r p; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || absent+=("$p")
  done < <(deps_packages)
  if [ "${#absent[@]}" -eq 0 ]; then
    report ok "system packages" "all of scripts/install-deps.sh's list"
  else
    report missing "system packages" "${absent[*]} (run scripts/install-deps.sh)"
  fi
  local node_major
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$node_major" -ge 20 ] && command -v npm >/dev/null 2>&1; then
    report ok "node.js" "$(node --version)"
  else
    report missing "node.js" "n8n (a test peer) needs Node.js >= 20.19 with npm; found $(node --version 2>/dev/null || echo none)"
  fi
}

check_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    report missing "rust" "install a toolchain >= 1.87 with rustup (https://rustup.rs)"
    return
  fi
  report ok "rust" "$(cargo --version 2>/dev/null || echo cargo)"
  local c
  for c in fmt clippy; do
    if cargo "$c" --version >/dev/null 2>&1; then
      report ok "$c" "$(cargo "$c" --version 2>/dev/null | head -n 1)"
    else
      local name=$c
      [ "$c" = fmt ] && name=rustfmt
      report missing "$c" "rustup component add $name"
    fi
  done
  if cargo nextest --version >/dev/null 2>&1; then
    report ok "cargo-nextest" "$(cargo nextest --version 2>/dev/null | head -n 1)"
  else
    report missing "cargo-nextest" "cargo install cargo-nextest --locked"
  fi
}

hooks_dir() { # prints the hooks directory, or fails when this is no git checkout
  [ -e "$root/.git" ] || return 1
  command -v git >/dev/null 2>&1 || return 1
  local d
  d=$(git -C "$root" rev-parse --git-path hooks 2>/dev/null) || return 1
  case "$d" in /*) ;; *) d="$root/$d" ;; esac
  printf '%s' "$d"
}

check_hook() {
  local d
  if ! d=$(hooks_dir); then
    report "skipped" "pre-commit hook" "not a git checkout (or no git)"
    return
  fi
  if [ -f "$d/pre-commit" ] && grep -qF "$marker" "$d/pre-commit"; then
    if hook_text | cmp -s - "$d/pre-commit"; then
      report ok "pre-commit hook" "$d/pre-commit"
    else
      report missing "pre-commit hook" "$d/pre-commit is an older version (scripts/setup-dev.sh --hook-only)"
    fi
  else
    report missing "pre-commit hook" "scripts/setup-dev.sh --hook-only"
  fi
}

check_server() {
  if [ "$server" = 0 ]; then
    report "skipped" "speech server" "--no-server"
  elif [ -x "$venv/bin/whisperlivekit-server" ]; then
    report ok "speech server" "$venv"
  else
    report missing "speech server" "scripts/asr-server.sh --install-only (into $venv)"
  fi
}

# ---------------------------------------------------------------- the hook

hook_text() {
  cat <<EOF
#!/usr/bin/env bash
$marker, installed by scripts/setup-dev.sh,
# which replaces this file when it changes. Checks formatting and lints what
# is about to be committed, as CI does; \`git commit --no-verify\` skips it.
# A hook that was here before is kept as pre-commit.local and runs first.
set -euo pipefail
hooks=\$(dirname "\$0")
if [ -x "\$hooks/pre-commit.local" ]; then
  "\$hooks/pre-commit.local" "\$@"
fi
cd "\$(git rev-parse --show-toplevel)"
echo "pre-commit: cargo fmt --check" >&2
if ! cargo fmt --all -- --check; then
  echo "pre-commit: formatting differs (above); run 'cargo fmt --all' and add the changes" >&2
  exit 1
fi
echo "pre-commit: clippy" >&2
if ! cargo clippy --workspace --all-targets --quiet -- -D warnings; then
  echo "pre-commit: clippy found problems (above)" >&2
  exit 1
fi
EOF
}

install_hook() {
  local d
  if ! d=$(hooks_dir); then
    say "not a git checkout (or no git): no pre-commit hook"
    return
  fi
  mkdir -p "$d"
  local hook="$d/pre-commit"
  if [ -e "$hook" ] || [ -L "$hook" ]; then
    if [ -f "$hook" ] && grep -qF "$marker" "$hook"; then
      if hook_text | cmp -s - "$hook"; then
        say "pre-commit hook up to date ($hook)"
        return
      fi
    else
      local backup="$d/pre-commit.local"
      if [ -e "$backup" ] || [ -L "$backup" ]; then
        backup="$d/pre-commit.local.$(date +%Y%m%d%H%M%S)"
        say "kept your existing hook as $backup; pre-commit.local is there already, so it will not run: merge the two yourself"
      else
        say "kept your existing hook as $backup; the new hook runs it first"
      fi
      mv "$hook" "$backup"
    fi
  fi
  hook_text >"$hook.tmp.$$"
  chmod 755 "$hook.tmp.$$"
  mv -f "$hook.tmp.$$" "$hook"
  say "pre-commit hook installed ($hook): cargo fmt --check and clippy"
}

# ---------------------------------------------------------------- main

if [ "$mode" = check ]; then
  echo "setup-dev: checking $root"
  check_packages
  check_rust
  check_hook
  check_server
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup-dev: missing: ${missing[*]}; scripts/setup-dev.sh sets them up"
    exit 1
  fi
  echo "setup-dev: everything is in place"
  exit 0
fi

if [ "$mode" = hook ]; then
  install_hook
  exit 0
fi

say "system packages (scripts/install-deps.sh)"
bash "$here/install-deps.sh" || die "scripts/install-deps.sh failed; fix what it says above and run this again"

command -v cargo >/dev/null 2>&1 \
  || die "Rust is missing: install a toolchain >= 1.87 with rustup (https://rustup.rs), then run this again"
need=()
cargo fmt --version >/dev/null 2>&1 || need+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || need+=(clippy)
if [ "${#need[@]}" -gt 0 ]; then
  command -v rustup >/dev/null 2>&1 \
    || die "${need[*]} missing and there is no rustup to add them; install them with your Rust distribution"
  say "adding ${need[*]} (rustup component add)"
  rustup component add "${need[@]}"
else
  say "rustfmt and clippy present"
fi

if cargo nextest --version >/dev/null 2>&1; then
  say "cargo-nextest present"
else
  say "installing cargo-nextest (cargo install, a few minutes)"
  cargo install cargo-nextest --locked || die "installing cargo-nextest failed; see above"
fi

install_hook

if [ "$server" = 1 ]; then
  say "speech server environment (scripts/asr-server.sh --install-only)"
  bash "$here/asr-server.sh" --install-only \
    || die "setting up the speech server failed; run scripts/asr-server.sh --install-only again, or pass --no-server"
fi

cat <<'EOF'
setup-dev: done. Next:
  cargo nextest run --workspace     the fast tests (no peers needed)
  ci/check.sh                       everything CI runs: fmt, clippy, shellcheck,
                                    all tests against a real speech server,
                                    n8n and RabbitMQ
  scripts/run.sh                    build and start the app
  scripts/setup-dev.sh --check      see what is still missing
EOF
