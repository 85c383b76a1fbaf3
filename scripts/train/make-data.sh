#!/bin/sh
# Renders the demo scenes used to train, validate and evaluate the conveyor-demo model.
# usage: scripts/train/make-data.sh DATA_DIR   (run `npm run build` first; scenes already there are kept)
# Seeds: train 1-16, validation 501-504 (threshold choice), evaluation 1000-1009 (never used in training).
set -eu
DATA=${1:?usage: make-data.sh DATA_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GEN="$ROOT/dist/scripts/make-demo-scene.js"
[ -f "$GEN" ] || { echo "make-data.sh: $GEN missing: run npm run build first" >&2; exit 66; }
TRAIN_SEEDS=$(seq 1 16)
VAL_SEEDS=$(seq 501 504)
EVAL_SEEDS=$(seq 1000 1009)
for s in $TRAIN_SEEDS $VAL_SEEDS $EVAL_SEEDS; do
  out="$DATA/seed-$s"
  [ -f "$out/boxes.jsonl" ] && [ -f "$out/conveyor.mp4" ] && continue
  nice -n 10 node "$GEN" --seed "$s" --out "$out"
done
