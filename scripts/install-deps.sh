#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages TonnyTray needs to build, run and test:
# mold (the linker .cargo/config.toml names);
# ALSA and xkbcommon headers (audio; the Wayland virtual keyboard), Mesa for
# the window's OpenGL, PulseAudio and its ALSA plugin (the virtual test
# microphone), espeak-ng and sox (spoken test audio), Python's venv (the
# WhisperLiveKit server), the headless desktop the tests drive (Xvfb, a
# StatusNotifier watcher and panel that show the tray icon, trayer as an
# old-style tray, xterm, a Tk window, xdotool and xclip to drive them,
# ImageMagick for screenshots, dbus; and the Wayland one: sway, waybar, foot,
# grim, wtype — wtype is also how the app presses Ctrl+V on Wayland — and
# wl-clipboard for the Wayland paste test; the XDG
# desktop portal with KDE's backend and global-shortcut daemon, whose
# GlobalShortcuts the hotkey test binds through), the shell linter, the
# integration
# peers (Node.js for n8n — ci/n8n.sh installs n8n itself with npm — curl,
# RabbitMQ) and a Secret Service for the keyring tests (gnome-keyring,
# secret-tool), and the operations checks (Prometheus with promtool, which
# also scrapes the app in a test; desktop-file-utils and squashfs-tools for
# the packages). Uses sudo when not root.
set -euo pipefail

packages=(
  build-essential mold pkg-config libasound2-dev libxkbcommon-dev git ca-certificates procps
  pulseaudio pulseaudio-utils libasound2-plugins alsa-utils
  espeak-ng sox python3 python3-venv python3-pip shellcheck
  libgl1-mesa-dri libegl1 libxkbcommon-x11-0
  xdotool xclip x11-utils dbus dbus-x11 xvfb trayer xterm imagemagick python3-tk
  haskell-status-notifier-item-utils haskell-gtk-sni-tray-utils
  sway waybar foot grim wtype wl-clipboard
  xdg-desktop-portal xdg-desktop-portal-kde libkf5globalaccel-bin
  nodejs curl rabbitmq-server gnome-keyring libsecret-tools
  prometheus desktop-file-utils squashfs-tools
)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: this script knows apt (Debian/Ubuntu); install these with your package manager: ${packages[*]}" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  sudo="sudo"
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all system packages present" >&2
else
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# n8n 2.8 needs Node.js >= 20.19 and npm; Debian 12's own nodejs is 18 and
# its npm package conflicts with NodeSource's nodejs (which bundles npm).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: n8n (the test peer) needs Node.js >= 20.19 with npm; found $(node --version 2>/dev/null || echo none). Install Node.js 20 (e.g. NodeSource's nodejs package), then run this again." >&2
  exit 1
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: Rust is missing. Install a toolchain >= 1.88 with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
