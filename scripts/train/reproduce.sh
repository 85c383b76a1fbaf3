#!/bin/sh
# Rebuilds models/conveyor-demo from nothing but this repository: renders the demo scenes, trains the teacher,
# the student alone and the student distilled from the teacher, picks the operating threshold on the
# validation seeds, measures everything on the evaluation seeds, exports ONNX and writes the manifest.
#
#   scripts/train/reproduce.sh [WORK_DIR]        (default /tmp/conveyor-demo-train)
#
# Needs: node >= 20 with this repo's node_modules, ffmpeg, /usr/bin/python3 with torch and onnx (Debian's
# python3-torch; development only, never needed at run time). All seeds are fixed.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${1:-/tmp/conveyor-demo-train}
DATA="$WORK/data"
PY=/usr/bin/python3
T="$ROOT/scripts/train"
OUT="$ROOT/models/conveyor-demo"
STEPS=${STEPS:-1500}
mkdir -p "$WORK"
cd "$ROOT"

npm run build --silent
"$T/make-data.sh" "$DATA"

# Teacher and student-alone are independent: train them side by side (one thread each).
nice -n 10 $PY "$T/train.py" --data "$DATA" --width 1.25 --steps "$STEPS" --out "$WORK/teacher.pt" > "$WORK/teacher.log" 2>&1 &
TEACHER=$!
nice -n 10 $PY "$T/train.py" --data "$DATA" --width 0.75 --steps "$STEPS" --out "$WORK/student-alone.pt" > "$WORK/student-alone.log" 2>&1
wait $TEACHER
nice -n 10 $PY "$T/train.py" --data "$DATA" --width 0.75 --steps "$STEPS" --teacher "$WORK/teacher.pt" \
  --alpha 0.5 --temperature 2 --out "$WORK/student.pt" > "$WORK/student.log" 2>&1

MODELS="--ckpt teacher=$WORK/teacher.pt --ckpt student-alone=$WORK/student-alone.pt --ckpt student=$WORK/student.pt"
nice -n 10 $PY "$T/evaluate.py" --data "$DATA" --seeds 501-504 $MODELS --choose-threshold --out "$WORK/val.json"
nice -n 10 $PY "$T/evaluate.py" --data "$DATA" --seeds 1000-1009 $MODELS --thresholds-from "$WORK/val.json" --out "$WORK/eval.json"
nice -n 10 $PY "$T/export.py" --data "$DATA" --ckpt teacher="$WORK/teacher.pt" --ckpt student="$WORK/student.pt" \
  --model-dir "$OUT" --ka-seed 1000 --ref "$WORK/ref.json"
nice -n 10 node "$T/finish-model.mjs" --model-dir "$OUT" --ref "$WORK/ref.json" --eval "$WORK/eval.json" --val "$WORK/val.json"
