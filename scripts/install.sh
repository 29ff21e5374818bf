#!/usr/bin/env bash
# Installs TonnyTray for the current user: the binary, a desktop entry and
# icon, an autostart entry, the systemd user units, and a copy of the speech
# server script that the app's server supervisor starts.
#
#   scripts/install.sh                  install target/release/tonnytray
#   scripts/install.sh --binary FILE    install that binary instead
#   scripts/install.sh --deb FILE       install the .deb system-wide with the
#                                       package manager (root or sudo), then
#                                       add only the per-user autostart entry
#
# Options: --no-autostart   do not start TonnyTray at login
#          --with-server    also set up the local speech server
#                           (asr-server.sh --install-only; ~6 GB, minutes)
#          --prefix DIR     where bin/tonnytray goes (default: $PREFIX, else ~/.local)
#          --dry-run        print the plan, change nothing
#
# Where things go ($XDG_DATA_HOME defaults to ~/.local/share, $XDG_CONFIG_HOME
# to ~/.config):
#   PREFIX/bin/tonnytray
#   XDG_DATA_HOME/applications/tonnytray.desktop
#   XDG_DATA_HOME/icons/hicolor/NxN/apps/tonnytray.png
#   XDG_CONFIG_HOME/autostart/tonnytray.desktop          (starts it --hidden)
#   XDG_CONFIG_HOME/systemd/user/tonnytray{,-asr}.service (not enabled)
#   XDG_DATA_HOME/tonnytray/asr-server.sh
#   XDG_DATA_HOME/tonnytray/install-manifest  (what scripts/uninstall.sh removes)
# Nothing is downloaded. Running it again is safe: unchanged files stay as
# they are, changed ones are replaced.
set -euo pipefail

die() { echo "install: $*" >&2; exit 1; }
say() { echo "install: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

[ -n "${HOME:-}" ] || die "HOME is not set"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
prefix="${PREFIX:-$HOME/.local}"

binary="" deb="" autostart=1 with_server=0 dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
    --deb) deb="${2:?--deb needs a .deb file}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --no-autostart) autostart=0; shift ;;
    --with-server) with_server=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ -n "$binary" ] && [ -n "$deb" ] && die "--binary and --deb exclude each other; pick one"

for var in data_home config_home prefix; do
  case "${!var}" in
    /*) ;;
    *) die "$var must be an absolute path, got '${!var}' (check XDG_DATA_HOME, XDG_CONFIG_HOME, PREFIX)" ;;
  esac
  case "${!var}" in *$'\n'*) die "$var contains a line break; refusing to install there" ;; esac
done

app_data="$data_home/tonnytray"
bin_dest="$prefix/bin/tonnytray"
desktop_dest="$data_home/applications/tonnytray.desktop"
autostart_dest="$config_home/autostart/tonnytray.desktop"
unit_dir="$config_home/systemd/user"
asr_dest="$app_data/asr-server.sh"
manifest="$app_data/install-manifest"

# ---------------------------------------------------------------- helpers

new_files=() new_dirs=() summary=() tmp=""
work=$(mktemp -d "${TMPDIR:-/tmp}/tonnytray-install.XXXXXX")
trap 'rm -f "${tmp:-}"; rm -rf "$work"' EXIT

note() { summary+=("$(printf '  %-15s %s%s' "$1" "$2" "${3:+  ($3)}")"); }

# Makes directory $1, remembering every level this run created (for uninstall).
ensure_dir() {
  local d=$1 missing=()
  while [ ! -d "$d" ]; do
    [ -e "$d" ] || [ -L "$d" ] && die "$d is in the way: it exists but is not a directory"
    missing+=("$d")
    d=$(dirname "$d")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  mkdir -p "$1" || die "cannot create $1 (permissions?)"
  new_dirs+=("${missing[@]}")
}

# put WHAT DEST MODE SRC: copies SRC to DEST through a
# temporary file and a rename (so a running binary can be replaced), leaves
# an identical file alone, and records DEST for the manifest.
put() {
  local what=$1 dest=$2 mode=$3 src=$4
  if [ "$dry_run" = 1 ]; then
    note "$what" "$dest" "would write"
    return
  fi
  [ -d "$dest" ] && die "$dest is a directory; move it away first"
  ensure_dir "$(dirname "$dest")"
  [ -w "$(dirname "$dest")" ] || die "cannot write to $(dirname "$dest") (run as its owner, or choose another --prefix)"
  tmp=$(mktemp "$dest.XXXXXX")
  cat "$src" >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
    chmod "$mode" "$dest"
    note "$what" "$dest" "unchanged"
  else
    local state="written"
    { [ -e "$dest" ] || [ -L "$dest" ]; } && state="replaced"
    mv -f "$tmp" "$dest"
    note "$what" "$dest" "$state"
  fi
  tmp=""
  new_files+=("$dest")
}

# A path as the program of a desktop entry's Exec key, quoted when needed.
exec_quote() {
  case "$1" in
    *[!A-Za-z0-9/._+-]*) ;;
    *) printf '%s' "$1"; return ;;
  esac
  case "$1" in
    *[\"\`\$\\%]*) die "cannot put '$1' into a desktop entry (it has \" \` \$ \\ or %); choose another --prefix" ;;
  esac
  printf '"%s"' "$1"
}

# A path as a word of a systemd Exec line, quoted when needed.
unit_quote() {
  case "$1" in
    *[!A-Za-z0-9/._+-]*) ;;
    *) printf '%s' "$1"; return ;;
  esac
  case "$1" in
    *[\"\'\$\\%]*) die "cannot put '$1' into a systemd unit (it has quotes, \$, \\ or %); choose another --prefix or XDG_DATA_HOME" ;;
  esac
  printf '"%s"' "$1"
}

# desktop_entry TEMPLATE PROGRAM EXTRA: the template with every Exec/TryExec
# that runs tonnytray pointed at PROGRAM; EXTRA (e.g. --hidden) is added to
# the main entry's Exec.
desktop_entry() {
  local exe
  exe=$(exec_quote "$2")
  awk -v exe="$exe" -v raw="$2" -v extra="$3" '
    /^\[/ { section = $0 }
    /^(Exec|TryExec)=/ {
      key = substr($0, 1, index($0, "=") - 1)
      val = substr($0, index($0, "=") + 1)
      prog = val; rest = ""
      if (match(val, /^"[^"]*"/) || match(val, /^[^ ]+/)) {
        prog = substr(val, 1, RLENGTH); rest = substr(val, RLENGTH + 1)
      }
      gsub(/"/, "", prog)
      if (prog !~ /(^|\/)tonnytray$/) { print; next }
      if (key == "TryExec") { print "TryExec=" raw; next }
      if (section == "[Desktop Entry]" && extra != "" && index(rest " ", " " extra " ") == 0)
        rest = " " extra rest
      print "Exec=" exe rest
      next
    }
    { print }
  ' "$1"
}

# systemd_unit TEMPLATE: the unit with Exec lines whose program is tonnytray
# or asr-server.sh pointed at the installed copies.
systemd_unit() {
  local bin asr
  bin=$(unit_quote "$bin_dest")
  asr=$(unit_quote "$asr_dest")
  awk -v bin="$bin" -v asr="$asr" '
    /^Exec[A-Za-z]*=/ {
      key = substr($0, 1, index($0, "="))
      n = split(substr($0, length(key) + 1), w, " ")
      out = ""
      for (i = 1; i <= n; i++) {
        t = w[i]; pre = ""
        if (i == 1 && match(t, /^[-@:+!]+/)) { pre = substr(t, 1, RLENGTH); t = substr(t, RLENGTH + 1) }
        if (i == 1 && t ~ /(^|\/)tonnytray$/) t = bin
        else if (t ~ /(^|\/)asr-server\.sh$/) t = asr
        out = out (i > 1 ? " " : "") pre t
      }
      print key out
      next
    }
    { print }
  ' "$1"
}

fallback_desktop() {
  cat <<'EOF'
[Desktop Entry]
Type=Application
Version=1.4
Name=TonnyTray
GenericName=Dictation
Comment=Talk to your computer: dictation and voice commands from the tray
Exec=tonnytray
TryExec=tonnytray
Icon=tonnytray
Terminal=false
Categories=Utility;Accessibility;
Keywords=dictation;speech;voice;transcribe;whisper;
StartupNotify=false
StartupWMClass=tonnytray
EOF
}

fallback_unit() {
  case "$1" in
    tonnytray.service) cat <<'EOF'
[Unit]
Description=TonnyTray dictation tray app
PartOf=graphical-session.target
After=graphical-session.target tonnytray-asr.service

[Service]
Type=simple
ExecStart=/usr/bin/tonnytray --hidden
Restart=on-failure
RestartSec=5s

[Install]
WantedBy=graphical-session.target
EOF
    ;;
    tonnytray-asr.service) cat <<'EOF'
[Unit]
Description=TonnyTray local speech recognition server (WhisperLiveKit)
After=network.target

[Service]
Type=simple
ExecStart=/usr/share/tonnytray/asr-server.sh --foreground --port 8888
Restart=on-failure
RestartSec=10s
TimeoutStartSec=30min

[Install]
WantedBy=default.target
EOF
    ;;
  esac
}

# The first template that exists, else the embedded fallback, as a file.
template() { # NAME CANDIDATE...
  local name=$1 c
  shift
  for c in "$@"; do
    if [ -f "$c" ]; then printf '%s' "$c"; return; fi
  done
  local f="$work/fallback-$name"
  case "$name" in
    desktop) fallback_desktop >"$f" ;;
    *) fallback_unit "$name" >"$f" ;;
  esac
  printf '%s' "$f"
}

png_size() { # prints WxH of a PNG, or nothing
  local sig
  sig=$(od -An -tx1 -N8 "$1" 2>/dev/null | tr -d ' \n')
  [ "$sig" = 89504e470d0a1a0a ] || return 0
  od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'
}

package_manager() {
  local pm
  for pm in apt-get dpkg dnf zypper yum rpm pacman brew; do
    if command -v "$pm" >/dev/null 2>&1; then printf '%s' "$pm"; return; fi
  done
}

as_root() { # runs "$@" as root: directly, through sudo, or explains
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "installing a system package needs root: run this as root or install sudo (or use --binary for a per-user install)"
  fi
}

user_systemd() {
  command -v systemctl >/dev/null 2>&1 \
    && timeout 5 systemctl --user show-environment >/dev/null 2>&1
}

write_autostart() { # PROGRAM DESKTOP-TEMPLATE
  if [ "$autostart" = 0 ]; then
    note "autostart" "skipped (--no-autostart)"
    return
  fi
  desktop_entry "$2" "$1" --hidden >"$work/autostart"
  put "autostart" "$autostart_dest" 644 "$work/autostart"
}

# CRC and size (cksum): enough to notice a file changed since the install,
# and fast on a debug binary of several hundred MB.
fingerprint() { cksum <"$1" | awk '{ print $1 "-" $2 }'; }

# Records what this run installed, keeping earlier entries for files that
# are still there (e.g. an autostart entry from before a --no-autostart run).
write_manifest() {
  [ "$dry_run" = 1 ] && return
  [ "${#new_files[@]}" -gt 0 ] || return 0
  ensure_dir "$app_data"
  local f d line rest path
  local keep_files keep_dirs
  keep_files=$(printf '%s\n' "${new_files[@]}")
  keep_dirs=$(printf '%s\n' "${new_dirs[@]+"${new_dirs[@]}"}")
  {
    echo "# Files and directories scripts/install.sh created; scripts/uninstall.sh"
    echo "# removes a file only while its fingerprint (cksum CRC-size) still matches."
    for f in "${new_files[@]}"; do
      echo "file $(fingerprint "$f") $f"
    done
    if [ -f "$manifest" ]; then
      while IFS= read -r line; do
        case "$line" in
          "file "*)
            rest=${line#file }; path=${rest#* }
            if [ -e "$path" ] && ! grep -qxF -- "$path" <<<"$keep_files"; then echo "$line"; fi
            ;;
          "dir "*)
            path=${line#dir }
            if [ -d "$path" ] && ! grep -qxF -- "$path" <<<"$keep_dirs"; then echo "$line"; fi
            ;;
        esac
      done <"$manifest"
    fi
    for d in "${new_dirs[@]+"${new_dirs[@]}"}"; do echo "dir $d"; done
  } >"$work/manifest"
  put "record" "$manifest" 644 "$work/manifest"
}

# ---------------------------------------------------------------- the .deb

if [ -n "$deb" ]; then
  [ -f "$deb" ] || die "$deb: no such file"
  case "$deb" in *.deb) ;; *) die "$deb is not a .deb file (for a plain binary use --binary FILE)" ;; esac
  deb_abs="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
  pm=$(package_manager)
  case "$pm" in
    apt-get) cmd=(env DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb_abs") ;;
    dpkg) cmd=(dpkg -i "$deb_abs") ;;
    dnf|zypper|yum|rpm)
      die "this system installs RPM packages ($pm); a .deb does not fit. Build the binary (cargo build --release -p tonnytray) and run: scripts/install.sh --binary target/release/tonnytray" ;;
    pacman)
      die "this system uses pacman; there is no Arch package. Build the binary (cargo build --release -p tonnytray) and run: scripts/install.sh --binary target/release/tonnytray" ;;
    brew)
      die "this system uses Homebrew; there is no formula. Build the binary (cargo build --release -p tonnytray) and run: scripts/install.sh --binary target/release/tonnytray" ;;
    *)
      die "no package manager found (looked for apt-get, dpkg, dnf, zypper, yum, rpm, pacman, brew); use --binary FILE" ;;
  esac
  if [ "$dry_run" = 1 ]; then
    note "package" "$deb_abs" "would run: ${cmd[*]}"
  else
    say "installing $deb_abs with ${cmd[*]}"
    as_root "${cmd[@]}" || die "${cmd[*]} failed; see the messages above"
    [ -x /usr/bin/tonnytray ] || die "the package installed, but /usr/bin/tonnytray is missing: is $deb a TonnyTray package?"
    note "package" "/usr/bin/tonnytray (+ desktop entry, units under /usr/lib/systemd/user)" "installed"
  fi
  write_autostart /usr/bin/tonnytray \
    "$(template desktop /usr/share/applications/tonnytray.desktop "$root/packaging/tonnytray.desktop")"
  write_manifest
  if [ -x "$bin_dest" ]; then
    say "note: $bin_dest (an earlier per-user install) comes before /usr/bin in PATH; remove it with scripts/uninstall.sh"
  fi
  if [ "$with_server" = 1 ]; then
    asr=/usr/share/tonnytray/asr-server.sh
    [ -f "$asr" ] || asr="$here/asr-server.sh"
    if [ "$dry_run" = 1 ]; then
      note "speech server" "$asr --install-only" "would run"
    else
      bash "$asr" --install-only || die "setting up the speech server failed (the package is installed); run $asr --install-only again later"
      note "speech server" "$data_home/tonnytray/asr-venv" "ready"
    fi
  fi
  [ "$dry_run" = 1 ] && echo "install: plan (--dry-run, nothing changed):" || echo "install: done (package + autostart):"
  printf '%s\n' "${summary[@]}"
  exit 0
fi

# ---------------------------------------------------------------- per user

if [ -z "$binary" ]; then
  binary="$root/target/release/tonnytray"
  [ -f "$binary" ] || die "no binary to install: $binary does not exist. Build it with 'cargo build --release -p tonnytray', or pass --binary FILE or --deb FILE (this script downloads nothing)"
fi
[ -f "$binary" ] || die "$binary: no such file"
[ -x "$binary" ] || die "$binary is not executable"
version=$("$binary" --version 2>&1) || die "$binary does not run here: $version"
case "$version" in
  tonnytray\ *) ;;
  *) die "$binary does not look like TonnyTray ('--version' printed: $version)" ;;
esac
[ -f "$here/asr-server.sh" ] || die "$here/asr-server.sh is missing; run this script from a TonnyTray checkout"

if [ "$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")" = "$bin_dest" ]; then
  note "binary" "$bin_dest" "already in place"
  new_files+=("$bin_dest")
else
  put "binary" "$bin_dest" 755 "$binary"
fi

desktop_template=$(template desktop "$root/packaging/tonnytray.desktop")
desktop_entry "$desktop_template" "$bin_dest" "" >"$work/desktop"
put "desktop entry" "$desktop_dest" 644 "$work/desktop"

icons=()
if compgen -G "$root/packaging/icons/*x*.png" >/dev/null; then
  icons=("$root"/packaging/icons/*x*.png)
else
  icons=("$root/assets/icons/idle.png")
fi
for icon in "${icons[@]}"; do
  [ -f "$icon" ] || die "icon $icon is missing"
  size=$(png_size "$icon")
  case "$size" in
    "") die "$icon is not a PNG file" ;;
    *x*) [ "${size%x*}" = "${size#*x}" ] || size="256x256" ;;
  esac
  put "icon" "$data_home/icons/hicolor/$size/apps/tonnytray.png" 644 "$icon"
done

write_autostart "$bin_dest" "$desktop_template"

put "server script" "$asr_dest" 755 "$here/asr-server.sh"

for unit in tonnytray.service tonnytray-asr.service; do
  systemd_unit "$(template "$unit" "$root/packaging/systemd/$unit")" >"$work/$unit"
  put "systemd unit" "$unit_dir/$unit" 644 "$work/$unit"
done

write_manifest

if [ "$dry_run" = 1 ]; then
  note "systemd" "systemctl --user daemon-reload" "would run if a user manager is reachable"
elif user_systemd; then
  systemctl --user daemon-reload && note "systemd" "systemctl --user daemon-reload" "done"
else
  note "systemd" "daemon-reload skipped" "no systemd user manager reachable"
fi

if [ "$with_server" = 1 ]; then
  if [ "$dry_run" = 1 ]; then
    note "speech server" "$asr_dest --install-only" "would run"
  else
    bash "$asr_dest" --install-only \
      || die "setting up the speech server failed (everything else is installed); run $asr_dest --install-only again later"
    note "speech server" "${TONNYTRAY_ASR_VENV:-$app_data/asr-venv}" "ready"
  fi
fi

if [ "$dry_run" = 1 ]; then
  echo "install: plan (--dry-run, nothing changed):"
else
  echo "install: installed $version:"
fi
printf '%s\n' "${summary[@]}"
if [ "$dry_run" = 0 ]; then
  case ":$PATH:" in
    *":$prefix/bin:"*) ;;
    *) echo "install: note: $prefix/bin is not on your PATH; add it, or start TonnyTray from the menu" ;;
  esac
  echo "install: to run it as a service: systemctl --user enable --now tonnytray-asr.service tonnytray.service"
  echo "install: to remove it: scripts/uninstall.sh"
fi
