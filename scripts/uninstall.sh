#!/usr/bin/env bash
# Removes what scripts/install.sh put in place for the current user: the
# binary, desktop entry, icons, autostart entry, systemd user units and the
# speech server script copy. Your data (history store, logs, the speech
# server's environment) and settings stay unless you ask for --purge.
#
#   scripts/uninstall.sh                remove the installed files, keep data
#   scripts/uninstall.sh --purge        also delete XDG_DATA_HOME/tonnytray and
#                                       XDG_CONFIG_HOME/tonnytray (asks first)
#   scripts/uninstall.sh --deb          also remove the tonnytray package
#                                       (root or sudo)
#
# Options: --keep-data (the default), --yes (do not ask), --dry-run (print
# the plan, change nothing).
#
# Only files listed in install.sh's record (XDG_DATA_HOME/tonnytray/
# install-manifest) are removed, and only while they are unchanged since the
# install (same cksum CRC and size); a file you edited or replaced is left
# alone, and so is anything else. Running it again is safe ("nothing to
# remove").
set -euo pipefail

die() { echo "uninstall: $*" >&2; exit 1; }
say() { echo "uninstall: $*" >&2; }

[ -n "${HOME:-}" ] || die "HOME is not set"
data_home="${XDG_DATA_HOME:-$HOME/.local/share}"
config_home="${XDG_CONFIG_HOME:-$HOME/.config}"
prefix="${PREFIX:-$HOME/.local}"

purge=0 yes=0 deb=0 dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep-data) purge=0; shift ;;
    --purge) purge=1; shift ;;
    --yes|-y) yes=1; shift ;;
    --deb) deb=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for var in data_home config_home; do
  case "${!var}" in
    /*) ;;
    *) die "$var must be an absolute path, got '${!var}' (check XDG_DATA_HOME, XDG_CONFIG_HOME)" ;;
  esac
done

app_data="$data_home/tonnytray"
app_config="$config_home/tonnytray"
manifest="$app_data/install-manifest"
asr_copy="$app_data/asr-server.sh"

removed=() kept=() notes=()

# The only files install.sh writes; a manifest line naming anything else
# (a damaged or edited record) is ignored.
ours() {
  case "$1" in
    /*) ;;
    *) return 1 ;;
  esac
  case "/$1/" in */../*|*/./*) return 1 ;; esac
  case "$1" in
    */bin/tonnytray|*/applications/tonnytray.desktop|*/autostart/tonnytray.desktop) ;;
    */icons/hicolor/*/apps/tonnytray.png) ;;
    */systemd/user/tonnytray.service|*/systemd/user/tonnytray-asr.service) ;;
    */tonnytray/asr-server.sh|*/tonnytray/install-manifest) ;;
    *) return 1 ;;
  esac
}

remove() { # PATH: removes one file (or plans to)
  if [ "$dry_run" = 0 ]; then
    rm -f -- "$1" || die "cannot remove $1 (permissions?)"
  fi
  removed+=("$1")
}

user_systemd() {
  command -v systemctl >/dev/null 2>&1 \
    && timeout 5 systemctl --user show-environment >/dev/null 2>&1
}

# ---------------------------------------------------------------- confirm first

purge_dirs=()
if [ "$purge" = 1 ]; then
  for d in "$app_data" "$app_config"; do
    { [ -e "$d" ] || [ -L "$d" ]; } && purge_dirs+=("$d")
  done
  if [ "${#purge_dirs[@]}" -gt 0 ] && [ "$yes" = 0 ] && [ "$dry_run" = 0 ]; then
    [ -t 0 ] || die "--purge deletes ${purge_dirs[*]} (history, logs, settings, the speech server's environment); nothing was removed. Add --yes to confirm (there is no terminal to ask on)."
    printf 'uninstall: delete %s for good (history, logs, settings)? [y/N] ' "${purge_dirs[*]}" >&2
    read -r answer || answer=""
    case "$answer" in
      y|Y|yes|YES) ;;
      *) die "nothing removed (answer was not yes)" ;;
    esac
  fi
fi

# ---------------------------------------------------------------- the package

if [ "$deb" = 1 ]; then
  if dpkg-query -W -f='${Status}' tonnytray 2>/dev/null | grep -q "install ok installed"; then
    if command -v apt-get >/dev/null 2>&1; then
      cmd=(env DEBIAN_FRONTEND=noninteractive apt-get remove -y tonnytray)
    else
      cmd=(dpkg -r tonnytray)
    fi
    if [ "$dry_run" = 1 ]; then
      notes+=("would run: ${cmd[*]}")
    else
      if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "removing the package needs root: run this as root or install sudo"
        cmd=(sudo "${cmd[@]}")
      fi
      say "removing the package: ${cmd[*]}"
      "${cmd[@]}" || die "${cmd[*]} failed; see the messages above"
    fi
    removed+=("package tonnytray")
  else
    notes+=("package tonnytray is not installed")
  fi
fi

# ---------------------------------------------------------------- user files

files=() dirs=()
if [ -f "$manifest" ]; then
  while IFS= read -r line; do
    case "$line" in
      "file "*) rest=${line#file }; files+=("$rest") ;;
      "dir "*) dirs+=("${line#dir }") ;;
    esac
  done <"$manifest"
fi

unit_paths=()
for entry in "${files[@]+"${files[@]}"}"; do
  path=${entry#* }
  case "$path" in */systemd/user/*.service) [ -f "$path" ] && unit_paths+=("$path") ;; esac
done

# A speech server started from the copy we are about to remove: stop it.
if [ "$dry_run" = 0 ] && [ -f "$asr_copy" ] && [ -f "$manifest" ]; then
  for pid_file in "$app_data"/asr-server-*.pid; do
    [ -f "$pid_file" ] || continue
    port=${pid_file##*/asr-server-}; port=${port%.pid}
    case "$port" in ''|*[!0-9]*) continue ;; esac
    if kill -0 "$(cat "$pid_file")" 2>/dev/null; then
      bash "$asr_copy" --port "$port" --stop || true
    fi
  done
fi

# Enabled units leave symlinks in *.wants/ pointing at the unit files.
if [ "${#unit_paths[@]}" -gt 0 ]; then
  if [ "$dry_run" = 0 ] && user_systemd; then
    systemctl --user disable --now tonnytray.service tonnytray-asr.service >/dev/null 2>&1 || true
  fi
  for link in "$config_home"/systemd/user/*.wants/tonnytray.service "$config_home"/systemd/user/*.wants/tonnytray-asr.service; do
    [ -L "$link" ] || continue
    target=$(readlink "$link")
    for unit in "${unit_paths[@]}"; do
      [ "$target" = "$unit" ] && remove "$link"
    done
  done
fi

for entry in "${files[@]+"${files[@]}"}"; do
  sum=${entry%% *}
  path=${entry#* }
  if ! ours "$path"; then
    kept+=("$path (not a file install.sh writes; ignored)")
    continue
  fi
  [ -f "$path" ] || continue
  if [ "$(cksum <"$path" | awk '{ print $1 "-" $2 }')" != "$sum" ]; then
    kept+=("$path (changed since the install; remove it yourself if you no longer want it)")
    continue
  fi
  remove "$path"
done

# Without a record, say what is there rather than guess.
if [ ! -f "$manifest" ]; then
  for path in "$prefix/bin/tonnytray" "$data_home/applications/tonnytray.desktop" \
      "$config_home/autostart/tonnytray.desktop" "$config_home/systemd/user/tonnytray.service" \
      "$config_home/systemd/user/tonnytray-asr.service" "$asr_copy"; do
    [ -e "$path" ] && kept+=("$path (no install record; remove it yourself if you put it there)")
  done
fi
[ -f "$manifest" ] && remove "$manifest"

if [ "$dry_run" = 0 ] && [ "${#removed[@]}" -gt 0 ]; then
  # Empty directories install.sh created, deepest first; rmdir leaves any
  # that still hold something.
  while IFS= read -r dir; do
    if [ -z "$dir" ] || [ ! -d "$dir" ] || [ "$dir" = "$HOME" ] || [ "$dir" = / ]; then
      continue
    fi
    rmdir -- "$dir" 2>/dev/null || true
  done < <(printf '%s\n' "${dirs[@]+"${dirs[@]}"}" | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
fi

# ---------------------------------------------------------------- purge

for d in "${purge_dirs[@]+"${purge_dirs[@]}"}"; do
  case "$d" in */tonnytray) ;; *) die "refusing to delete $d: not a tonnytray directory" ;; esac
  [ "$dry_run" = 0 ] && { rm -rf -- "$d" || die "cannot delete $d"; }
  removed+=("$d (data)")
done
if [ "$purge" = 1 ]; then
  notes+=("secrets in the keyring stay; see them with 'tonnytray secret list', remove with 'tonnytray secret delete NAME'")
fi

# ---------------------------------------------------------------- report

verb="removed"
[ "$dry_run" = 1 ] && verb="would remove"
if [ "${#removed[@]}" -eq 0 ]; then
  echo "uninstall: nothing to remove"
else
  echo "uninstall: $verb:"
  printf '  %s\n' "${removed[@]}"
fi
if [ "${#kept[@]}" -gt 0 ]; then
  echo "uninstall: left in place:"
  printf '  %s\n' "${kept[@]}"
fi
if [ "$purge" = 0 ] && { [ -d "$app_data" ] || [ -d "$app_config" ]; }; then
  echo "uninstall: kept your data and settings ($app_data, $app_config); --purge deletes them"
fi
for n in "${notes[@]+"${notes[@]}"}"; do echo "uninstall: $n"; done
