#!/usr/bin/env bash
# The main job on the embedded default, on any machine: held-out synthetic aerial scenes ->
# the shipped micro Florence-2 (models/florence2-micro, trained by the project) generates ->
# mAP_nc / mF1 and the per-class table -> a short fine-tuning run on CPU (loss printed) ->
# drawn predictions -> the eval matrix with its HTML report. Sets up what is missing (torch for
# libtorch) and builds first.
#
# Environment: DEMO_OUT (demo-out), DEMO_TEST_IMAGES (200: the model card's test set),
# DEMO_TRAIN_IMAGES (48), DEMO_STEPS (20 fine-tuning updates). LMMROTATE_BIN=path skips set-up
# and build and uses that binary (the test suite runs a reduced demo this way).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${DEMO_OUT:-demo-out}"
steps="${DEMO_STEPS:-20}"
test_images="${DEMO_TEST_IMAGES:-200}"
train_images="${DEMO_TRAIN_IMAGES:-48}"

if [ -n "${LMMROTATE_BIN:-}" ]; then
  bin="$LMMROTATE_BIN"
else
  bash scripts/setup.sh
  # shellcheck source=/dev/null
  source .env.sh
  echo "demo: building lmmrotate and its plugins (release; the first build takes a while)"
  cargo build --release --workspace --quiet
  bin="$root/target/release/lmmrotate"
fi
lmm() { "$bin" --registry "$root/registry.toml" "$@"; }   # LMMROTATE_PLUGIN_DIR may point elsewhere

echo "demo: registered plugins"
lmm plugins || true

# The scene settings the micro model was trained on (models/florence2-micro/README.md).
scene='{"min_objects":1,"max_objects":3,"object_scale":1.6,"crowding":0.0,"max_roads":1}'
echo "demo: generating synthetic scenes ($out/data): $test_images held out (the model card's test set), $train_images to fine-tune on"
lmm data synth --out "$out/data/test" --images "$test_images" --size 256 --seed 1000 --prefix test_ --scene "$scene"
lmm data synth --out "$out/data/train" --images "$train_images" --size 256 --seed 7 --scene "$scene"

echo "demo: evaluating the shipped micro model (models/florence2-micro) on the held-out scenes"
rm -rf "$out/eval"
lmm eval --model florence2-micro --dataset synthetic --dataset-root "$out/data/test" --out "$out/eval" \
  --batch-size 25 --num-beams 3 --max-new-tokens 160

echo "demo: fine-tuning it on CPU for $steps updates (to show training; the shipped model is already trained)"
rm -rf "$out/run"
lmm train --model florence2-micro --dataset synthetic --dataset-root "$out/data/train" --output_dir "$out/run" \
  --max_steps "$steps" --per_device_train_batch_size 4 --gradient_accumulation_steps 1 --learning_rate 1e-4 \
  --warmup_ratio 0.1 --save_steps 10
echo "demo: loss per update (first, second, last)"
awk -F, '{ printf "%-6s %s\n", $1, $3 }' "$out/run/log.csv" | sed -n '1p;2p;3p;$p'

echo "demo: predictions and pictures (ground truth | prediction)"
lmm predict --model florence2-micro --format v2 --classes "$out/data/test/classes.txt" \
  --num-beams 3 --max-new-tokens 160 --batch-size 25 --out "$out/predictions" "$out/data/test/images"
lmm vis --images "$out/data/test/images" --gt "$out/data/test/annfiles" --pred "$out/predictions/predictions.jsonl" \
  --classes "$out/data/test/classes.txt" --out "$out/vis" || true

echo "demo: the default eval matrix (florence2-micro x synthetic x v2, v3) with its HTML report"
rm -rf "$out/matrix"
lmm matrix run --out "$out/matrix" --filter model=florence2-micro --dataset-root synthetic="$out/data/test"

cat <<DONE

demo: done. Where everything is:
  data              $out/data/{test,train}       (images/, annfiles/, classes.txt)
  evaluation        $out/eval                    (responses.jsonl, metrics.json, metrics.md)
  fine-tuning run   $out/run                     (log.csv, loss.png, runs/ for TensorBoard, checkpoint-*)
  predictions       $out/predictions             (predictions.jsonl, vis/)
  pictures          $out/vis                     (ground truth | prediction)
  eval matrix       $out/matrix                  (results.jsonl, report.md, report.html, cells/)
  the model         models/florence2-micro       (README.md: how it was trained, its scores)
DONE
