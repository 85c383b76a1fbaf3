#!/usr/bin/env bash
# Installs what edge-agent needs to run from this checkout; safe to run any number of times.
#   scripts/setup.sh            runtime needs (ffmpeg, mosquitto for the demo broker), npm packages, build
#   scripts/setup.sh --test     also what the test suite uses (openssl, GStreamer tools, systemd-analyze)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "Node.js is not installed: install Node.js 20 or newer (e.g. sudo apt install nodejs npm on Debian 13, or NodeSource on Debian 12)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js $(node -v) is too old: edge-agent needs Node.js 20 or newer"

# Debian packages: command -> package. Only missing ones are installed, so a second run does nothing.
declare -A pkgs=([ffmpeg]=ffmpeg [ffprobe]=ffmpeg [mosquitto]=mosquitto)
if [ "$want_test" = 1 ]; then
  pkgs+=([openssl]=openssl [gst-launch-1.0]=gstreamer1.0-tools [systemd-analyze]=systemd [mosquitto_sub]=mosquitto-clients)
  # The status page tests drive Debian's Chromium (headless) with playwright-core; no browser download.
  pkgs+=([chromium]=chromium)
fi
missing=()
for cmd in "${!pkgs[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then missing+=("${pkgs[$cmd]}"); fi
done
if [ "$want_test" = 1 ]; then
  # GStreamer elements the source tests use (videotestsrc, videoconvert, fdsink; jpegenc, pngdec).
  dpkg -s gstreamer1.0-plugins-base >/dev/null 2>&1 || missing+=(gstreamer1.0-plugins-base)
  dpkg -s gstreamer1.0-plugins-good >/dev/null 2>&1 || missing+=(gstreamer1.0-plugins-good)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "missing packages (${missing[*]}) and no sudo: install them as root"
    sudo="sudo"
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The package's own mosquitto service is not needed (the demo and tests start their own broker on a free port).

# npm packages: reinstall only when the lock file changed since the last install.
# ONNXRUNTIME_NODE_INSTALL=skip: the CPU runtime ships inside the package; its installer would try to download CUDA.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
else
  npm run --silent build
fi
