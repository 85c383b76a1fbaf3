#!/bin/sh
# Rebuilds models/conveyor-demo from nothing but this repository: renders the demo scenes, trains the teacher,
# the student alone and the student distilled from the teacher, picks the operating threshold on the
# validation seeds, measures everything on the evaluation seeds, exports ONNX and writes the manifest.
#
#   scripts/train/reproduce.sh [WORK_DIR]        (default /tmp/conveyor-demo-train)
#   SHIP=student-alone scripts/train/reproduce.sh   ships the student trained without the teacher
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
STEPS=${STEPS:-8000}
# Student width: 0.75 (12-48 channels), the shipped model. STUDENT_WIDTH=1.0 (16-64 channels) quantises better
# (int8 1.38-1.57x faster than fp32 against 1.26-1.45x), but the one full run of it (2026-11-28) missed the demo
# target on the evaluation seeds (defect recall 93.3 %), so it is not the default (docs/optimize.md).
STUDENT_WIDTH=${STUDENT_WIDTH:-0.75}
mkdir -p "$WORK"
cd "$ROOT"

npm run build --silent
"$T/make-data.sh" "$DATA"

# Which student the manifest ships: "student" (distilled, the default) or "student-alone" (skips distillation).
SHIP=${SHIP:-student}

# train NAME ARGS...: trains WORK/NAME.pt unless a checkpoint trained for $STEPS steps is already there (a run
# that was interrupted after some models resumes with the next one; delete WORK to start over).
train() {
  name=$1
  shift
  if [ -f "$WORK/$name.pt" ] && $PY -c "import sys, torch; sys.exit(0 if torch.load(sys.argv[1])['args']['steps'] == int(sys.argv[2]) else 1)" "$WORK/$name.pt" "$STEPS"; then
    echo "$name: $WORK/$name.pt already trained for $STEPS steps, kept"
    return 0
  fi
  nice -n 10 $PY "$T/train.py" --data "$DATA" --steps "$STEPS" --out "$WORK/$name.pt" "$@" > "$WORK/$name.log" 2>&1
}

# Teacher and student-alone are independent: train them side by side (one thread each).
train teacher --width 1.25 &
TEACHER=$!
train student-alone --width "$STUDENT_WIDTH"
wait $TEACHER
MODELS="--ckpt teacher=$WORK/teacher.pt --ckpt student-alone=$WORK/student-alone.pt"
if [ "$SHIP" = student ]; then
  train student --width "$STUDENT_WIDTH" --teacher "$WORK/teacher.pt" --alpha 0.5 --temperature 2
  MODELS="$MODELS --ckpt student=$WORK/student.pt"
fi

nice -n 10 $PY "$T/evaluate.py" --data "$DATA" --seeds 501-504 $MODELS --choose-threshold --out "$WORK/val.json"
nice -n 10 $PY "$T/evaluate.py" --data "$DATA" --seeds 1000-1009 $MODELS --thresholds-from "$WORK/val.json" \
  --operating "$SHIP" --out "$WORK/eval.json"
nice -n 10 $PY "$T/export.py" --data "$DATA" --ckpt "$SHIP=$WORK/$SHIP.pt@student.onnx" --ckpt "teacher=$WORK/teacher.pt@teacher.onnx" \
  --model-dir "$OUT" --ka-seed 1000 --ref "$WORK/ref.json"
nice -n 10 node "$T/finish-model.mjs" --model-dir "$OUT" --ref "$WORK/ref.json" --eval "$WORK/eval.json" --val "$WORK/val.json" \
  --variant "student-fp32=$SHIP" --variant teacher-fp32=teacher
