#!/usr/bin/env bash
# edge-agent installer: one step from a checkout to a running, hardened systemd service. Idempotent.
# Usage: sudo scripts/install.sh [options]      (see usage() below; docs/install.md explains each step)
set -euo pipefail

readonly APP=edge-agent
readonly SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly GROUPS_NEEDED=(gpio video plugdev apex)

ROOT=""
NO_APT=0
NO_START=0
SKIP_NPM=0
UNINSTALL=0
CONFIG_SRC=""
NODE_BIN=""
readonly ORIG_ARGS="$*"

usage() {
  cat <<'EOF'
usage: install.sh [options]
  --root DIR     install into a staging root DIR (no apt, no systemctl, no users, no udev reload)
  --config FILE  config to install as /etc/edge-agent/config.yaml when none exists (default: config/default.yaml)
  --node PATH    node binary the service runs (default: `command -v node`)
  --no-apt       do not install apt packages (ffmpeg, gpiod, mosquitto-clients)
  --no-start     install and enable, but do not (re)start the service
  --skip-npm     copy the app without running npm ci / build / prune (tests)
  --uninstall    remove the service, app, udev rules and sysusers file; keep config and state
  -h, --help     this text
EOF
}

die() { # die STATUS "what went wrong: what to do"
  local status=$1
  shift
  echo "install.sh: error: $*" >&2
  exit "$status"
}
note() { echo "install.sh: $*"; }
warn() { echo "install.sh: warning: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die 64 "--root needs a folder: --root /tmp/stage"; ROOT="$2"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --config) [ $# -ge 2 ] || die 64 "--config needs a file"; CONFIG_SRC="$2"; shift 2 ;;
    --config=*) CONFIG_SRC="${1#--config=}"; shift ;;
    --node) [ $# -ge 2 ] || die 64 "--node needs the path of a node binary"; NODE_BIN="$2"; shift 2 ;;
    --node=*) NODE_BIN="${1#--node=}"; shift ;;
    --no-apt) NO_APT=1; shift ;;
    --no-start) NO_START=1; shift ;;
    --skip-npm) SKIP_NPM=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die 64 "unknown option \"$1\": run install.sh --help" ;;
  esac
done

if [ -n "$ROOT" ]; then
  [ "${ROOT#/}" != "$ROOT" ] || ROOT="$(pwd)/$ROOT"
  ROOT="${ROOT%/}"
  [ "$ROOT" != "" ] || die 64 "--root / is the host: omit --root to install on this machine"
  mkdir -p "$ROOT" || die 73 "cannot create $ROOT: check the path and permissions"
fi
readonly STAGING=$([ -n "$ROOT" ] && echo 1 || echo 0)

readonly OPT="$ROOT/opt/$APP"
readonly ETC="$ROOT/etc/$APP"
readonly UNIT="$ROOT/etc/systemd/system/$APP.service"
readonly DROPIN="$ROOT/etc/systemd/system/$APP.service.d"
readonly RULES="$ROOT/etc/udev/rules.d/99-$APP.rules"
readonly SYSUSERS="$ROOT/usr/lib/sysusers.d/$APP.conf"
readonly CLI_LINK="$ROOT/usr/local/bin/$APP"

# sd_booted(3): systemd is PID 1 when /run/systemd/system exists.
systemd_running() { [ "$STAGING" = 0 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

# Writes $2 to file $1 with mode $3 only when the content differs (keeps mtimes stable on a re-run).
put_file() {
  local dest=$1 content=$2 mode=$3
  mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && [ "$(cat "$dest")" = "$content" ]; then
    chmod "$mode" "$dest"
    return
  fi
  printf '%s\n' "$content" >"$dest.tmp.$$"
  chmod "$mode" "$dest.tmp.$$"
  mv -f "$dest.tmp.$$" "$dest"
}

check_platform() {
  local arch
  arch="$(uname -m)"
  case "$arch" in
    x86_64 | aarch64) ;;
    armv7l) warn "armv7l (32-bit ARM): onnxruntime-node has no build for it, so ONNX models run on onnxruntime-web's WebAssembly backend (slower; see docs/packages.md). A 64-bit OS is recommended." ;;
    *) die 69 "unsupported architecture $arch: edge-agent runs on x86_64, aarch64 (and armv7l with limits)" ;;
  esac
}

check_node() {
  if [ -z "$NODE_BIN" ]; then
    NODE_BIN="$(command -v node || true)"
    [ -n "$NODE_BIN" ] || die 69 "node not found: install Node.js 20 or newer (Debian: apt install nodejs; or NodeSource), then re-run"
  fi
  case "$NODE_BIN" in /*) ;; *) die 64 "--node must be an absolute path (systemd runs it without a PATH search)" ;; esac
  # With --root, --node names the path on the target; probe the staged binary when there is one.
  local probe="$NODE_BIN"
  if [ "$STAGING" = 1 ] && [ -x "$ROOT$NODE_BIN" ]; then probe="$ROOT$NODE_BIN"; fi
  [ -x "$probe" ] || die 69 "$NODE_BIN is not executable: give the node binary with --node PATH"
  local version major
  version="$("$probe" -p 'process.versions.node' 2>/dev/null || true)"
  major="${version%%.*}"
  [[ "$major" =~ ^[0-9]+$ ]] || die 69 "$NODE_BIN does not report a version: is it Node.js?"
  [ "$major" -ge 20 ] || die 69 "Node.js $version is too old: edge-agent needs Node.js >= 20 (Debian 13 / NodeSource 20.x or 22.x)"
  note "node $version at $NODE_BIN, $(uname -m)"
}

# The config whose sources and drivers decide apt packages and drop-ins: the installed one if present.
active_config() {
  if [ -f "$ETC/config.yaml" ]; then echo "$ETC/config.yaml"; else echo "$CONFIG_SRC"; fi
}

# Comments removed (a YAML comment starts at "#" after a blank or at the start of a line).
config_text() { [ -f "$1" ] && sed -e 's/^[[:space:]]*#.*$//' -e 's/[[:space:]]#.*$//' "$1"; }

# Crude but dependable (the config is YAML we cannot parse in bash): does any "type:" name this value?
# Block style (type: sysfs) and flow style ({ type: sysfs, line: 17 }) both count.
config_uses() {
  local file=$1 value=$2
  config_text "$file" | grep -Eq "(^|[[:space:]{,-])type:[[:space:]]*[\"']?$value[\"']?[[:space:]]*([,}]|$)"
}

install_apt_packages() {
  local cfg=$1
  local required=(ffmpeg) optional=()
  config_uses "$cfg" gpiochip && optional+=(gpiod)
  config_text "$cfg" | grep -Eq '(^|[[:space:]{,])mqtt:' && optional+=(mosquitto-clients)
  if config_uses "$cfg" libcamera; then optional+=(gstreamer1.0-tools gstreamer1.0-libcamera); fi
  if config_uses "$cfg" pipeline; then optional+=(gstreamer1.0-tools); fi
  if [ "$NO_APT" = 1 ] || [ "$STAGING" = 1 ]; then
    note "apt skipped; the config needs: ${required[*]}${optional[*]:+ ${optional[*]}}"
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die 69 "apt-get not found: install ${required[*]} ${optional[*]} yourself and re-run with --no-apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${required[@]}" >/dev/null ||
    die 69 "apt-get install ${required[*]} failed: run apt-get update, check the network, then re-run"
  local p
  for p in "${optional[@]}"; do
    apt-get install -y --no-install-recommends "$p" >/dev/null 2>&1 || warn "optional package $p could not be installed (not in this distribution?)"
  done
  note "apt packages: ${required[*]}${optional[*]:+ ${optional[*]}}"
}

copy_app() {
  local stage="$OPT.new.$$"
  rm -rf "$stage"
  mkdir -p "$stage"
  # Everything but VCS data, build output, dependencies, tests and local state.
  tar -C "$SRC" --exclude=./.git --exclude=./node_modules --exclude=./dist --exclude=./test --exclude=./state \
    --exclude=./.cache --exclude=./coverage --exclude='*.log' -cf - . | tar -C "$stage" -xf - ||
    die 74 "copying the app to $stage failed: check free space"
  if [ "$SKIP_NPM" = 0 ]; then
    command -v npm >/dev/null 2>&1 || die 69 "npm not found: install npm (it comes with Node.js), or use --skip-npm"
    # onnxruntime-node must not try to download GPU binaries at install time; prepare builds TypeScript.
    # On failure the staging copy is removed and the installed app is left as it was.
    (cd "$stage" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >/dev/null) ||
      { rm -rf "$stage"; die 70 "npm ci failed (see the npm error above; offline? npm needs the registry or a filled cache); $OPT was left unchanged"; }
    (cd "$stage" && npm run build --silent >/dev/null) || { rm -rf "$stage"; die 70 "npm run build failed; $OPT was left unchanged"; }
    (cd "$stage" && npm prune --omit=dev --no-audit --no-fund >/dev/null) || { rm -rf "$stage"; die 70 "npm prune failed; $OPT was left unchanged"; }
  fi
  # Swap in one rename so a failed install never leaves half an app.
  rm -rf "$OPT.old.$$"
  [ -e "$OPT" ] && mv "$OPT" "$OPT.old.$$"
  mv "$stage" "$OPT"
  rm -rf "$OPT.old.$$"
  mkdir -p "$(dirname "$CLI_LINK")"
  ln -sfn "/opt/$APP/bin/$APP.js" "$CLI_LINK"
  note "app in $OPT$([ "$SKIP_NPM" = 1 ] && echo ' (npm skipped)')"
}

create_users() {
  if [ "$STAGING" = 1 ]; then
    note "users skipped (staging root); systemd-sysusers creates them from $SYSUSERS on the target"
    return
  fi
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers "$SYSUSERS" || die 70 "systemd-sysusers $SYSUSERS failed"
  else
    local g
    for g in "${GROUPS_NEEDED[@]}"; do getent group "$g" >/dev/null || groupadd --system "$g"; done
    getent passwd "$APP" >/dev/null ||
      useradd --system --user-group --home-dir "/var/lib/$APP" --no-create-home --shell /usr/sbin/nologin "$APP"
    usermod -a -G "$(
      IFS=,
      echo "${GROUPS_NEEDED[*]}"
    )" "$APP"
  fi
  note "user $APP, groups ${GROUPS_NEEDED[*]}"
}

install_config() {
  mkdir -p "$ETC"
  chmod 0750 "$ETC"
  if [ -f "$ETC/config.yaml" ]; then
    note "kept the existing $ETC/config.yaml"
  else
    install -m 0640 "$CONFIG_SRC" "$ETC/config.yaml"
    note "installed $ETC/config.yaml from $CONFIG_SRC"
  fi
  if [ ! -f "$ETC/environment" ]; then
    put_file "$ETC/environment" "# Secrets for edge-agent, read by systemd (EnvironmentFile=). Mode 0640, group edge-agent.
# Reference them from the config, e.g. events.mqtt.passwordEnv: EDGE_AGENT_MQTT_PASSWORD
#EDGE_AGENT_MQTT_PASSWORD=change-me" 0640
  fi
  if [ "$STAGING" = 0 ]; then chgrp "$APP" "$ETC" "$ETC/config.yaml" "$ETC/environment"; fi
}

# Jetson GPU nodes have no stable /proc/devices group name, so list the nodes this board really has.
jetson_dropin() {
  local compat="$ROOT/proc/device-tree/compatible"
  if [ ! -f "$ROOT/etc/nv_tegra_release" ] && ! { [ -f "$compat" ] && tr '\0' '\n' <"$compat" | grep -q '^nvidia,tegra'; }; then
    rm -f "$DROPIN/50-jetson.conf"
    return
  fi
  local lines="" node
  for node in "$ROOT"/dev/nvmap "$ROOT"/dev/nvhost-* "$ROOT"/dev/nvgpu/*/* "$ROOT"/dev/nvidia*; do
    [ -e "$node" ] || continue
    lines+="DeviceAllow=${node#"$ROOT"} rw"$'\n'
  done
  [ -n "$lines" ] || warn "Jetson detected but no /dev/nvmap, /dev/nvhost-* or /dev/nvgpu nodes: the GPU will not be usable"
  put_file "$DROPIN/50-jetson.conf" "# Written by install.sh: the Jetson GPU nodes present at install time. Re-run install.sh after a JetPack upgrade.
[Unit]
After=nvargus-daemon.service
[Service]
${lines}# nvarguscamerasrc talks to nvargus-daemon through /tmp/argus_socket, which PrivateTmp would hide.
BindPaths=-/tmp/argus_socket" 0644
  note "Jetson: $(printf '%s' "$lines" | grep -c DeviceAllow) GPU device nodes allowed ($DROPIN/50-jetson.conf)"
}

# The sysfs output driver writes /sys/devices/.../gpioN/value (what /sys/class/gpio/gpioN links to).
sysfs_dropin() {
  if config_uses "$(active_config)" sysfs; then
    put_file "$DROPIN/50-sysfs-gpio.conf" "# Written by install.sh because the config uses the sysfs GPIO driver: /sys/class/gpio/gpioN
# links into /sys/devices/platform, which ProtectKernelTunables keeps read-only otherwise.
[Service]
ReadWritePaths=-/sys/devices/platform" 0644
    note "sysfs GPIO: /sys/devices/platform writable ($DROPIN/50-sysfs-gpio.conf)"
  else
    rm -f "$DROPIN/50-sysfs-gpio.conf"
  fi
}

node_dropin() {
  if [ "$NODE_BIN" = /usr/bin/node ]; then
    rm -f "$DROPIN/40-node.conf"
  else
    put_file "$DROPIN/40-node.conf" "# Written by install.sh: node is not at /usr/bin/node on this machine.
[Service]
ExecStart=
ExecStart=$NODE_BIN --max-semi-space-size=1 /opt/$APP/bin/$APP.js run --config /etc/$APP/config.yaml" 0644
    note "service runs $NODE_BIN ($DROPIN/40-node.conf)"
  fi
}

install_system_files() {
  put_file "$UNIT" "$(cat "$SRC/systemd/$APP.service")" 0644
  put_file "$RULES" "$(cat "$SRC/systemd/99-$APP.rules")" 0644
  put_file "$SYSUSERS" "$(cat "$SRC/systemd/$APP.sysusers.conf")" 0644
  mkdir -p "$DROPIN"
  node_dropin
  jetson_dropin
  sysfs_dropin
  rmdir "$DROPIN" 2>/dev/null || true
  note "unit $UNIT, udev rules $RULES, sysusers $SYSUSERS"
}

reload_udev() {
  [ "$STAGING" = 0 ] && command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ] || return 0
  udevadm control --reload-rules || warn "udevadm control --reload-rules failed; reboot to apply $RULES"
  udevadm trigger --subsystem-match=usb --subsystem-match=apex --subsystem-match=gpio || true
}

start_service() {
  if ! systemd_running; then
    note "systemd is not running here (staging root or container): not enabling or starting the service"
    return
  fi
  systemctl daemon-reload
  # verify exits 0 even on unknown keys (e.g. a drop-in written for a newer systemd): show whatever it says.
  local complaints
  complaints=""
  if command -v systemd-analyze >/dev/null 2>&1; then complaints="$(systemd-analyze verify "$APP.service" 2>&1 || true)"; fi
  [ -z "$complaints" ] || warn "systemd-analyze verify $APP.service: $(echo "$complaints" | tr '\n' ' ')"
  systemctl enable "$APP.service" >/dev/null 2>&1 || die 70 "systemctl enable $APP failed: see systemctl status $APP"
  if [ "$NO_START" = 1 ]; then
    note "enabled; not started (--no-start): systemctl start $APP"
    return
  fi
  if [ -f "$OPT/dist/agent/cli/main.js" ] && ! "$NODE_BIN" "$OPT/bin/$APP.js" check-config "$ETC/config.yaml"; then
    warn "$ETC/config.yaml is invalid (see above): fix it, then systemctl restart $APP"
    return
  fi
  systemctl restart "$APP.service" || die 70 "the service did not start: journalctl -u $APP -n 50"
  note "started: systemctl status $APP; journalctl -u $APP -f; curl http://127.0.0.1:9464/healthz"
}

uninstall() {
  if systemd_running; then
    systemctl disable --now "$APP.service" >/dev/null 2>&1 || true
  fi
  rm -f "$UNIT" "$RULES" "$SYSUSERS" "$CLI_LINK"
  rm -rf "$DROPIN" "$OPT"
  if systemd_running; then systemctl daemon-reload; fi
  reload_udev
  note "removed the service, app, udev rules and sysusers file; kept $ETC (config) and $ROOT/var/lib/$APP (state)"
  [ "$STAGING" = 1 ] || note "the $APP user is kept (it owns the state); remove it with: userdel $APP"
}

main() {
  if [ "$STAGING" = 0 ] && [ "$(id -u)" != 0 ]; then die 77 "must run as root on the host: sudo $0 $ORIG_ARGS (or use --root DIR to stage)"; fi
  if [ "$UNINSTALL" = 1 ]; then
    uninstall
    return
  fi
  [ -n "$CONFIG_SRC" ] || CONFIG_SRC="$SRC/config/default.yaml"
  [ -f "$CONFIG_SRC" ] || die 66 "config $CONFIG_SRC not found: give one with --config FILE"
  for f in "systemd/$APP.service" "systemd/99-$APP.rules" "systemd/$APP.sysusers.conf" package.json bin/$APP.js; do
    [ -f "$SRC/$f" ] || die 66 "$SRC/$f is missing: run install.sh from a complete edge-agent checkout"
  done
  check_platform
  check_node
  install_apt_packages "$(active_config)"
  copy_app
  install_system_files
  create_users
  install_config
  reload_udev
  start_service
}

main "$@"
