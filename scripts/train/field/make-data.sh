#!/bin/sh
# Renders the field scenes the farm model is trained and evaluated on, with the project's own generator
# (dist/scripts/make-field-scene.js; run `npm run build` first), and decodes each clip exactly as the agent reads it
# (160x120 rgb24 from ffmpeg) into frames.u8 next to it.
#   train seeds 1-48, validation 501-504, evaluation 1000-1011 (never seen in training or threshold choice)
set -eu
DATA=${1:-/tmp/field-demo-train/data}
HERE=$(cd "$(dirname "$0")/../../.." && pwd)
render() {
  seed=$1
  out="$DATA/seed-$seed"
  if [ ! -f "$out/frames.u8" ]; then
    node "$HERE/dist/scripts/make-field-scene.js" --seed "$seed" --out "$out" >/dev/null
    ffmpeg -v error -i "$out/field.mp4" -vf format=rgb24 -f rawvideo - > "$out/frames.u8.tmp"
    mv "$out/frames.u8.tmp" "$out/frames.u8"
  fi
}
for s in $(seq 1 48) $(seq 501 504) $(seq 1000 1011); do render "$s"; done
echo "$DATA: $(ls "$DATA" | wc -l) scenes"
