#!/bin/sh
# Renders the demo scenes used to train, validate and evaluate the conveyor-demo model.
# usage: scripts/train/make-data.sh DATA_DIR   (run `npm run build` first; scenes already there are kept)
# Seeds: train 1-16 (whole clips) and 2001-2600 (every 6th frame only: many more different parts, which is what
# keeps the model from memorising individual parts), validation 501-504 (threshold choice), evaluation
# 1000-1009 (never used in training).
set -eu
DATA=${1:?usage: make-data.sh DATA_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GEN="$ROOT/dist/scripts/make-demo-scene.js"
[ -f "$GEN" ] || { echo "make-data.sh: $GEN missing: run npm run build first" >&2; exit 66; }
TRAIN_SEEDS=$(seq 1 16)
VAL_SEEDS=$(seq 501 504)
EVAL_SEEDS=$(seq 1000 1009)
gen() { # seed [extra args]
  out="$DATA/seed-$1"
  [ -f "$out/boxes.jsonl" ] && [ -f "$out/conveyor.mp4" ] && return 0
  s=$1
  shift
  nice -n 10 node "$GEN" --seed "$s" --out "$out" "$@"
}
# Two at a time (one per core).
set -- $TRAIN_SEEDS $VAL_SEEDS $EVAL_SEEDS
while [ $# -gt 0 ]; do
  gen "$1" &
  [ $# -gt 1 ] && gen "$2"
  wait
  shift; [ $# -gt 0 ] && shift
done
# Time-lapse training scenes.
for s in $(seq 2001 2 2599); do
  gen "$s" --every 6 &
  gen $((s + 1)) --every 6
  wait
done
