#!/usr/bin/env bash
# The bundled demo: installs what it needs (ffmpeg, mosquitto, npm packages), then runs the agent once over the
# conveyor clip with a local MQTT broker and prints what it did. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/edge-agent.js demo "$@"
