#!/usr/bin/env bash
# Runs the whole test suite (unit + integration with real ffmpeg, ONNX Runtime and mosquitto); installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
if [ ! -d ../shared/models ]; then
  echo "test: ../shared/models is absent: tests that need the third-party models will be skipped (they say so)" >&2
fi
exec npx vitest run "$@"
