#!/usr/bin/env bash
# Packages an ALREADY BUILT tonnytray binary with cargo-packager 0.11, from the
# one configuration in packaging/Packager.toml. Nothing is compiled here.
#
#   ci/package.sh deb      [--bin-dir DIR] [--out DIR]   the .deb (offline)
#   ci/package.sh appdir   [--bin-dir DIR] [--out DIR]   an AppImage AppDir, checked
#   ci/package.sh appimage [--bin-dir DIR] [--out DIR]   the AppImage (see below)
#   ci/package.sh dmg|wix|nsis [--bin-dir DIR] [--out DIR]   on macOS / Windows
#   ci/package.sh packager                              install cargo-packager only
#
# --bin-dir: where the tonnytray binary is (default target/debug, or
# $CARGO_TARGET_DIR/debug: the binary the test build already made; releases
# pass target/release).
# --out: where the package goes (default target/packages, or
# $CARGO_TARGET_DIR/packages).
# The path of the package (or AppDir) is the last line on stdout; progress
# goes to stderr.
#
# cargo-packager: a `cargo-packager` 0.11 on PATH is used as is (the release
# workflow installs one). Otherwise, on Linux x86-64, the prebuilt CLI from npm
# (@crabnebula/packager-linux-x64-gnu, a Node addon that carries the whole CLI;
# ~2 s to install, no network at run time) goes into
# ${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray/packager with a `packager` wrapper;
# failing that, `cargo install cargo-packager --locked` (6-17 minutes).
#
# AppImage: cargo-packager downloads linuxdeploy and its plugins while
# packaging, and no registry that this project may use ships an AppImage
# runtime or appimagetool (packaging/README.md). So `appimage` uses, in order:
# appimagetool on PATH (with the checked AppDir), then cargo-packager's own
# AppImage format (needs the internet: the release workflow). Offline it
# exits 3 with a message saying so.
#
# Linux packages get a stripped copy of the binary (a debug build is ~700 MB
# with debug info, ~55 MB without).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGER_VERSION="0.11.2"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/tonnytray"
npm_dir="$cache/packager"

say() { echo "package: $*" >&2; }
die() { echo "package: $*" >&2; exit 1; }

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

format="${1:-}"
[ -n "$format" ] || { usage >&2; exit 2; }
shift
bin_dir="${CARGO_TARGET_DIR:-target}/debug"
out_dir="${CARGO_TARGET_DIR:-target}/packages"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="${2:?--bin-dir needs a directory}"; shift 2 ;;
    --out) out_dir="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
case "$format" in
  deb|appdir|appimage|dmg|wix|nsis|packager) ;;
  -h|--help|help) usage; exit 0 ;;
  *) die "unknown format '$format' (deb, appdir, appimage, dmg, wix, nsis, packager)" ;;
esac

# A path that a native Windows program understands too (Git Bash gives /d/a/...).
native_path() {
  if command -v cygpath >/dev/null 2>&1; then cygpath -m "$1"; else printf '%s\n' "$1"; fi
}
abs_path() { (cd "$1" && pwd); }

python=""
for p in python3 python; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import tomllib' 2>/dev/null; then python=$p; break; fi
done

# ---------------------------------------------------------------- cargo-packager
packager=()
find_packager() {
  if command -v cargo-packager >/dev/null 2>&1 \
     && cargo-packager --version 2>/dev/null | grep -q ' 0\.11\.'; then
    packager=(cargo-packager)
    return
  fi
  local addon="$npm_dir/node_modules/@crabnebula/packager-linux-x64-gnu/packager.linux-x64-gnu.node"
  local wrapper="$npm_dir/bin/packager"
  if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] && command -v node >/dev/null 2>&1; then
    if [ ! -f "$addon" ] && command -v npm >/dev/null 2>&1; then
      say "installing cargo-packager $PACKAGER_VERSION (npm @crabnebula/packager-linux-x64-gnu) into $npm_dir"
      mkdir -p "$npm_dir"
      npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
        "@crabnebula/packager-linux-x64-gnu@$PACKAGER_VERSION" >&2 \
        || say "npm install failed; falling back to cargo install"
    fi
    if [ -f "$addon" ]; then
      mkdir -p "$npm_dir/bin"
      # The npm package is the CLI as a Node addon; this wrapper is its `packager` command.
      cat >"$wrapper" <<'JS'
#!/usr/bin/env node
// cargo-packager's CLI from the npm addon @crabnebula/packager-linux-x64-gnu.
const path = require("path");
const addon = path.join(__dirname, "..", "node_modules", "@crabnebula",
  "packager-linux-x64-gnu", "packager.linux-x64-gnu.node");
try {
  require(addon).cli(process.argv.slice(2), "packager");
} catch (e) {
  console.error(`packager: ${e.message}`);
  process.exit(1);
}
JS
      chmod 755 "$wrapper"
      if "$wrapper" --version 2>/dev/null | grep -q "$PACKAGER_VERSION"; then
        packager=("$wrapper")
        return
      fi
      say "the npm cargo-packager does not run here; falling back to cargo install"
    fi
  fi
  local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin/cargo-packager"
  if [ ! -x "$cargo_bin" ] || ! "$cargo_bin" --version 2>/dev/null | grep -q ' 0\.11\.'; then
    say "installing cargo-packager 0.11 with cargo install (from source: 6-17 minutes)"
    cargo install cargo-packager --locked --version "~0.11" >&2
  fi
  packager=("$cargo_bin")
}

# ---------------------------------------------------------------- helpers
version() {
  [ -n "$python" ] || die "python3 (3.11+, for tomllib) is needed to read the version from Cargo.toml"
  "$python" - <<'PY'
import tomllib
app = tomllib.load(open("app/Cargo.toml", "rb"))["package"]["version"]
if isinstance(app, dict):
    app = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"]
print(app)
PY
}

exe=""
case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*|Windows_NT) exe=".exe" ;; esac

work=""
cleanup() { [ -n "$work" ] && rm -rf "$work"; }
trap cleanup EXIT

# The binary to package: a stripped copy on Linux (into $work/bin).
stage_binary() {
  local src="$bin_dir/tonnytray$exe"
  [ -f "$src" ] || die "$src not found: build it first (cargo build -p tonnytray, or cargo build --release -p tonnytray with --bin-dir target/release)"
  mkdir -p "$work/bin"
  if [ "$(uname -s)" = "Linux" ] && command -v strip >/dev/null 2>&1; then
    strip -o "$work/bin/tonnytray" "$src"
  else
    cp "$src" "$work/bin/tonnytray$exe"
  fi
  if [ "$(uname -s)" = "Linux" ] && ! "$work/bin/tonnytray" --version >/dev/null 2>&1; then
    die "$src does not run (--version failed)"
  fi
}

# cargo-packager with packaging/Packager.toml turned into JSON, given as a
# string: a config FILE makes cargo-packager change into the file's folder,
# and 0.11 ignores --binaries-dir with --config, so the directories and the
# version (from Cargo.toml) go into the JSON. Paths in Packager.toml are
# relative to packaging/, where this runs.
run_packager() {
  local fmt=$1 out=$2 json
  [ -n "$python" ] || die "python3 (3.11+, for tomllib) is needed to read packaging/Packager.toml"
  json=$(FMT="$fmt" VERSION="$(version)" BIN_DIR="$(native_path "$work/bin")" \
         OUT="$(native_path "$out")" "$python" - <<'PY'
import json, os, tomllib
c = tomllib.load(open("packaging/Packager.toml", "rb"))
c["version"] = os.environ["VERSION"]
c["binaries-dir"] = os.environ["BIN_DIR"]
c["out-dir"] = os.environ["OUT"]
c["formats"] = [os.environ["FMT"]]
if os.environ["FMT"] == "deb":
    # 0.11 names the Debian package after the kebab-cased product name
    # ("tonny-tray"); the package is "tonnytray". The .desktop template
    # has its own Name=, so the product name shows nowhere else in a .deb.
    c["product-name"] = "tonnytray"
print(json.dumps(c))
PY
)
  find_packager
  say "cargo-packager ($("${packager[@]}" --version 2>/dev/null)): $fmt"
  (cd packaging && "${packager[@]}" -c "$json" -f "$fmt") >&2
}

# ---------------------------------------------------------------- .deb
build_deb() {
  local out_abs deb name
  work=$(mktemp -d "${TMPDIR:-/tmp}/tonnytray-package.XXXXXX")
  stage_binary
  run_packager deb "$work/out"
  deb=$(find "$work/out" -maxdepth 1 -name '*.deb' | head -n 1)
  [ -n "$deb" ] || die "cargo-packager made no .deb"
  # Checks: package name, dependencies, and the files other parts rely on.
  name=$(dpkg-deb -f "$deb" Package)
  [ "$name" = tonnytray ] || die "the .deb is named '$name', not tonnytray"
  local listing
  listing=$(dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's#^\./##')
  for f in usr/bin/tonnytray usr/share/tonnytray/asr-server.sh \
           usr/lib/systemd/user/tonnytray.service usr/lib/systemd/user/tonnytray-asr.service \
           usr/share/applications/tonnytray.desktop usr/share/icons/hicolor/256x256/apps/tonnytray.png; do
    grep -qx "$f" <<<"$listing" || die "the .deb lacks $f"
  done
  if command -v desktop-file-validate >/dev/null 2>&1; then
    mkdir -p "$work/check"
    dpkg-deb -x "$deb" "$work/check"
    desktop-file-validate "$work/check/usr/share/applications/tonnytray.desktop" \
      || die "the .deb's tonnytray.desktop does not validate"
  fi
  mkdir -p "$out_dir"
  out_abs=$(abs_path "$out_dir")
  mv -f "$deb" "$out_abs/"
  deb="$out_abs/$(basename "$deb")"
  say "built $deb ($(du -h "$deb" | cut -f1); $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version))"
  echo "$deb"
}

# ---------------------------------------------------------------- AppDir
# The AppImage layout: AppRun, the .desktop file and icon at the root,
# .DirIcon, everything else under usr/. Libraries come from the host (ALSA,
# Mesa), as a plain AppDir; see packaging/README.md.
build_appdir() {
  local dir=$1 size
  rm -rf "$dir"
  mkdir -p "$dir/usr/bin" "$dir/usr/share/applications" "$dir/usr/share/tonnytray" "$dir/usr/share/metainfo"
  cp "$work/bin/tonnytray" "$dir/usr/bin/tonnytray"
  cp scripts/asr-server.sh "$dir/usr/share/tonnytray/asr-server.sh"
  chmod 755 "$dir/usr/share/tonnytray/asr-server.sh"
  cp packaging/tonnytray.desktop "$dir/usr/share/applications/tonnytray.desktop"
  cp packaging/tonnytray.desktop "$dir/tonnytray.desktop"
  cp packaging/org.tonnytray.TonnyTray.metainfo.xml "$dir/usr/share/metainfo/"
  for icon in packaging/icons/[0-9]*x[0-9]*.png; do
    size=$(basename "$icon" .png)
    mkdir -p "$dir/usr/share/icons/hicolor/$size/apps"
    cp "$icon" "$dir/usr/share/icons/hicolor/$size/apps/tonnytray.png"
  done
  cp packaging/icons/256x256.png "$dir/tonnytray.png"
  ln -s tonnytray.png "$dir/.DirIcon"
  cat >"$dir/AppRun" <<'SH'
#!/bin/sh
# AppImage entry point: run the bundled tonnytray with the bundled tools first on PATH.
here=$(dirname "$(readlink -f "$0")")
PATH="$here/usr/bin:$PATH"
XDG_DATA_DIRS="$here/usr/share:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
export PATH XDG_DATA_DIRS
exec "$here/usr/bin/tonnytray" "$@"
SH
  chmod 755 "$dir/AppRun"
}

check_appdir() {
  local dir=$1 missing want got
  for f in AppRun tonnytray.desktop tonnytray.png .DirIcon usr/bin/tonnytray \
           usr/share/tonnytray/asr-server.sh usr/share/applications/tonnytray.desktop \
           usr/share/icons/hicolor/256x256/apps/tonnytray.png; do
    [ -e "$dir/$f" ] || die "AppDir: $f is missing"
  done
  for f in AppRun usr/bin/tonnytray usr/share/tonnytray/asr-server.sh; do
    [ -x "$dir/$f" ] || die "AppDir: $f is not executable"
  done
  command -v desktop-file-validate >/dev/null 2>&1 \
    || die "desktop-file-validate is missing (Debian: apt-get install desktop-file-utils)"
  desktop-file-validate "$dir/tonnytray.desktop" || die "AppDir: tonnytray.desktop does not validate"
  grep -qx 'Icon=tonnytray' "$dir/tonnytray.desktop" || die "AppDir: the .desktop Icon= is not tonnytray"
  if command -v appstreamcli >/dev/null 2>&1; then
    appstreamcli validate --no-net "$dir/usr/share/metainfo/org.tonnytray.TonnyTray.metainfo.xml" >&2 \
      || die "AppDir: the AppStream metainfo does not validate"
  fi
  missing=$(ldd "$dir/usr/bin/tonnytray" | grep 'not found' || true)
  [ -z "$missing" ] || die "AppDir: unresolved libraries:"$'\n'"$missing"
  want="tonnytray $(version)"
  got=$("$dir/AppRun" --version) || die "AppDir: AppRun --version failed"
  [ "$got" = "$want" ] || die "AppDir: AppRun --version printed '$got', expected '$want'"
  say "AppDir checked: desktop file valid, $(ldd "$dir/usr/bin/tonnytray" | wc -l) libraries resolve, AppRun --version: $got"
}

appdir_cmd() {
  local out_abs dir
  work=$(mktemp -d "${TMPDIR:-/tmp}/tonnytray-package.XXXXXX")
  stage_binary
  mkdir -p "$out_dir"
  out_abs=$(abs_path "$out_dir")
  dir="$out_abs/TonnyTray.AppDir"
  build_appdir "$dir"
  check_appdir "$dir"
  echo "$dir"
}

# ---------------------------------------------------------------- AppImage
appimage_cmd() {
  local out_abs dir image arch
  work=$(mktemp -d "${TMPDIR:-/tmp}/tonnytray-package.XXXXXX")
  stage_binary
  mkdir -p "$out_dir"
  out_abs=$(abs_path "$out_dir")
  arch=$(uname -m)
  if command -v appimagetool >/dev/null 2>&1; then
    dir="$work/TonnyTray.AppDir"
    build_appdir "$dir"
    check_appdir "$dir"
    image="$out_abs/TonnyTray-$(version)-$arch.AppImage"
    ARCH="$arch" appimagetool --no-appstream "$dir" "$image" >&2
    say "built $image ($(du -h "$image" | cut -f1))"
    echo "$image"
    return
  fi
  say "no appimagetool on PATH; trying cargo-packager's AppImage format (downloads linuxdeploy: needs the internet)"
  if ! run_packager appimage "$work/out"; then
    echo "package: the AppImage cannot be built here: cargo-packager downloads linuxdeploy and" >&2
    echo "package: the AppImage runtime at build time, and no package registry ships them" >&2
    echo "package: (packaging/README.md). The release workflow (.github/workflows/release.yml)" >&2
    echo "package: builds it; offline, 'ci/package.sh appdir' builds and checks the AppDir." >&2
    exit 3
  fi
  image=$(find "$work/out" -maxdepth 1 -name '*.AppImage' | head -n 1)
  [ -n "$image" ] || die "cargo-packager made no AppImage"
  mv -f "$image" "$out_abs/"
  image="$out_abs/$(basename "$image")"
  say "built $image ($(du -h "$image" | cut -f1))"
  echo "$image"
}

# ---------------------------------------------------------------- dmg, msi, nsis
other_cmd() {
  local fmt=$1 out_abs
  work=$(mktemp -d "${TMPDIR:-/tmp}/tonnytray-package.XXXXXX")
  stage_binary
  run_packager "$fmt" "$work/out"
  mkdir -p "$out_dir"
  out_abs=$(abs_path "$out_dir")
  local made=0
  for f in "$work/out"/*.dmg "$work/out"/*.msi "$work/out"/*.exe; do
    [ -f "$f" ] || continue
    mv -f "$f" "$out_abs/"
    say "built $out_abs/$(basename "$f")"
    echo "$out_abs/$(basename "$f")"
    made=1
  done
  [ "$made" = 1 ] || die "cargo-packager made no $fmt package"
}

case "$format" in
  packager) find_packager; say "ready: ${packager[*]} ($("${packager[@]}" --version))"; echo "${packager[*]}" ;;
  deb) build_deb ;;
  appdir) appdir_cmd ;;
  appimage) appimage_cmd ;;
  dmg|wix|nsis) other_cmd "$format" ;;
esac
