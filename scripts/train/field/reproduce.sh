#!/bin/sh
# Makes everything in models/field-demo/ from this repository alone (run from anywhere; needs `npm run build`,
# ffmpeg, /usr/bin/python3 with Debian's python3-torch and python3-onnx).
#   scripts/train/field/reproduce.sh [WORK_DIR]      (default /tmp/field-demo-train)
set -eu
W=${1:-/tmp/field-demo-train}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT="$REPO/models/field-demo"
PY=/usr/bin/python3
mkdir -p "$W" "$OUT"
"$HERE/make-data.sh" "$W/data"
cd "$HERE"
$PY train.py --data "$W/data" --seeds 1-48 --out "$W/teacher.pt" --width 1.25 --steps 600 --batch 16
$PY train.py --data "$W/data" --seeds 1-48 --out "$W/student.pt" --width 0.75 --steps 600 --batch 16 --teacher "$W/teacher.pt"
for m in teacher student; do
  $PY evaluate.py --data "$W/data" --model "$W/$m.pt" --seeds 501-504 --choose-threshold --json "$W/$m-val.json"
  T=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['threshold'])" "$W/$m-val.json")
  $PY evaluate.py --data "$W/data" --model "$W/$m.pt" --seeds 1000-1011 --threshold "$T" --json "$W/$m-eval.json"
  $PY export.py --model "$W/$m.pt" --onnx "$OUT/$m.onnx" --data "$W/data" --ka-dir "$OUT"
done
node "$HERE/finish.mjs" --dir "$OUT" --eval-student "$W/student-eval.json" --eval-teacher "$W/teacher-eval.json"
