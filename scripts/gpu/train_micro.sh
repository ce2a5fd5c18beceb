#!/usr/bin/env bash
# On one CUDA GPU: trains the demo's micro Florence-2 from scratch on synthetic scenes for
# TRAIN_SECONDS (a clean stop by SIGINT saves where it is), scores it on 200 held-out scenes of the
# same distribution, and returns the weights in fp16 (what the demo ships; ≤ 16 MiB comes back
# from the device machine). Runs chain: with RESUME=DIR (an earlier run's fp16 folder, carried)
# training continues from those weights (fresh optimizer, short warm-up).
# Needs carry/ (scripts/gpu/build_carry.sh). Results: $OUT/micro/.
set -euo pipefail
source scripts/gpu/env.sh
OUT="${OUT:-out}"; res="$OUT/micro"; mkdir -p "$res"
TRAIN_SECONDS="${TRAIN_SECONDS:-480}"
LR="${LR:-1e-3}"; BATCH="${BATCH:-96}"; SCHEDULE="${SCHEDULE:-constant}"; STEPS="${STEPS:-100000}"
WARMUP="${WARMUP:-0.002}"; IMAGES="${IMAGES:-20000}"; SEED="${SEED:-1}"
scene="${SCENE:-{\"min_objects\":1,\"max_objects\":3,\"object_scale\":1.6,\"crowding\":0.0,\"max_roads\":1\}}"
work="${TMPDIR:-/tmp}/lmm_micro"; mkdir -p "$work"
run="$work/run-$(date +%s)"   # a fresh folder: an old run there would be resumed instead
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}" RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-12}"
lmm data synth --out "$work/train-$SEED" --images "$IMAGES" --size 256 --seed "$SEED" --scene "$scene"
lmm data synth --out "$work/test" --images 200 --size 256 --seed 1000 --prefix test_ --scene "$scene"
from=()
if [ -n "${RESUME:-}" ]; then from=(--checkpoint "$RESUME"); fi
timeout -s INT "$TRAIN_SECONDS" ./carry/lmmrotate -q --registry scripts/gpu/registry.toml train --model micro "${from[@]}" \
  --dataset synthetic --dataset-root "$work/train-$SEED" --output_dir "$run" --max_steps "$STEPS" \
  --per_device_train_batch_size "$BATCH" --gradient_accumulation_steps 1 --learning_rate "$LR" \
  --lr_scheduler_type "$SCHEDULE" --warmup_ratio "$WARMUP" --save_steps 100000 --prefetch 8 || true
ck="$(ls -d "$run"/checkpoint-* | sort -t- -k2 -n | tail -1)"
lmm eval --model micro --checkpoint "$ck" --dataset synthetic --dataset-root "$work/test" --out "$run/eval" \
  --batch-size 100 --num-beams 3 --max-new-tokens 160 | tail -4
cp "$run/log.csv" "$res/log.csv"; cp "$run/eval/metrics.json" "$res/metrics.json"
# fp16 copy of the weights for the next chained run / the repository.
python3 - "$ck" "$res" <<'PY'
import json, shutil, sys
from safetensors.torch import load_file, save_file
ck, res = sys.argv[1], sys.argv[2]
w = load_file(f"{ck}/model.safetensors")
save_file({k: v.half().contiguous() for k, v in w.items()}, f"{res}/model.safetensors", metadata={"format": "pt"})
for f in ("config.json", "generation_config.json", "tokenizer.json", "preprocessor_config.json"):
    shutil.copy(f"{ck}/{f}", res)
print("fp16 weights:", sum(v.numel() for v in w.values()), "values")
PY
ls -la "$res"
