#!/usr/bin/env bash
# The main job on the embedded default, on any machine: synthetic aerial scenes -> fine-tune a
# micro Florence-2 for a short run (CPU is fine) -> generate on held-out scenes -> mAP_nc / mF1 ->
# pictures. Sets up what is missing (torch for libtorch) and builds first.
#
# The run is short, so the model is far from trained: the point is to see every stage work.
# Until the trained micro checkpoint ships (issue: embedded default), expect mAP_nc near 0.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${DEMO_OUT:-demo-out}"
steps="${DEMO_STEPS:-40}"

bash scripts/setup.sh
# shellcheck source=/dev/null
source .env.sh
echo "demo: building lmmrotate and its plugins (release; the first build takes a while)"
cargo build --release --workspace --quiet
lmm() { "$root/target/release/lmmrotate" --registry "$root/registry.toml" "$@"; }

echo "demo: registered plugins"
lmm plugins || true

scene='{"min_objects":2,"max_objects":8,"object_scale":0.8,"crowding":0.3}'
echo "demo: generating synthetic scenes ($out/data)"
lmm data synth --out "$out/data/train" --images 64 --size 256 --seed 1 --scene "$scene"
lmm data synth --out "$out/data/test" --images 12 --size 256 --seed 2 --prefix test_ --scene "$scene"

echo "demo: fine-tuning florence2-micro for $steps updates"
rm -rf "$out/run"
lmm train --model florence2-micro --dataset synthetic --dataset-root "$out/data/train" --output_dir "$out/run" \
  --max_steps "$steps" --per_device_train_batch_size 4 --gradient_accumulation_steps 1 --learning_rate 1e-3 \
  --warmup_ratio 0.1 --save_steps 20
echo "demo: loss per update"
cut -d, -f1,3 "$out/run/log.csv" | column -t -s, | sed -n '1p;2p;$p'

echo "demo: evaluating on the held-out scenes"
rm -rf "$out/eval"
lmm eval --model florence2-micro --checkpoint "$out/run" --dataset synthetic --dataset-root "$out/data/test" \
  --out "$out/eval" --batch-size 12 --num-beams 1 --max-new-tokens 96

echo "demo: predictions and pictures"
lmm predict --model florence2-micro --checkpoint "$out/run" --format v2 --classes "$out/data/test/classes.txt" \
  --num-beams 1 --max-new-tokens 96 --out "$out/predictions" "$out/data/test/images"
lmm vis --images "$out/data/test/images" --gt "$out/data/test/annfiles" --pred "$out/predictions/predictions.jsonl" \
  --classes "$out/data/test/classes.txt" --out "$out/vis" || true

echo "demo: the default eval matrix (florence2-micro x synthetic x v2, v3) with its HTML report"
rm -rf "$out/matrix"
lmm matrix run --out "$out/matrix" --filter model=florence2-micro

cat <<DONE

demo: done. Where everything is:
  data              $out/data/{train,test}       (images/, annfiles/, classes.txt)
  training run      $out/run                     (log.csv, loss.png, runs/ for TensorBoard, checkpoint-*)
  evaluation        $out/eval                    (responses.jsonl, metrics.json, metrics.md)
  predictions       $out/predictions             (predictions.jsonl, vis/)
  pictures          $out/vis                     (ground truth | prediction)
  eval matrix       $out/matrix                  (results.jsonl, report.md, report.html, cells/)
DONE
