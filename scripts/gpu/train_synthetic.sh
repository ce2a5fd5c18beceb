#!/usr/bin/env bash
# On the CUDA machine: training runs of lmmrotate on generated synthetic scenes, recorded in
# docs/BENCHMARKS.md. Needs carry/ from scripts/gpu/build_carry.sh.
#   1. Florence-2-base architecture (random init), 768 px, bf16: a few hundred updates, loss curve
#      and samples/s.
#   2. The micro model (from scratch, 256 px, fp32) on 4000 scenes, then eval on 200 held-out.
# Everything it keeps is written under $OUT (logs, metrics, the micro checkpoint).
set -euo pipefail
torch_lib="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
OUT="${OUT:-out}"
BASE_STEPS="${BASE_STEPS:-200}"
MICRO_STEPS="${MICRO_STEPS:-3000}"
MICRO_LR="${MICRO_LR:-1e-3}"
MICRO_IMAGES="${MICRO_IMAGES:-4000}"
work="${TMPDIR:-/tmp}/lmm_synth"
lmm() { ./carry/lmmrotate -q --registry scripts/gpu/registry.toml "$@"; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
default_scene='{"min_objects":2,"max_objects":10,"object_scale":0.8,"crowding":0.3}'
scene="${SCENE:-$default_scene}"
[ "$BASE_STEPS" -gt 0 ] && lmm data synth --out "$work/train512" --images 800 --size 512 --seed 11
lmm data synth --out "$work/train" --images "$MICRO_IMAGES" --size 256 --seed 1 --scene "$scene"
lmm data synth --out "$work/test" --images 200 --size 256 --seed 2 --prefix test_ --scene "$scene"

if [ "$BASE_STEPS" -gt 0 ]; then
echo "== base-size training =="
lmm train --model base-random --dataset synthetic --dataset-root "$work/train512" --output_dir "$work/base" \
  --max_steps "$BASE_STEPS" --per_device_train_batch_size 4 --gradient_accumulation_steps 1 \
  --learning_rate 1e-4 --warmup_ratio 0.03 --save_steps 100000 --bf16 --prefetch 8
mkdir -p "$OUT/base" && cp "$work/base/log.csv" "$work/base/loss.png" "$OUT/base/"
fi

echo "== micro training =="
lmm train --model micro --dataset synthetic --dataset-root "$work/train" --output_dir "$work/micro" \
  --max_steps "$MICRO_STEPS" --per_device_train_batch_size 32 --gradient_accumulation_steps 1 \
  --learning_rate "$MICRO_LR" --warmup_ratio 0.03 --save_steps 100000 --prefetch 8
lmm eval --model micro --checkpoint "$work/micro" --dataset synthetic --dataset-root "$work/test" \
  --out "$work/micro_eval" --batch-size 100 --num-beams 3 --max-new-tokens 200
mkdir -p "$OUT/micro" && cp "$work/micro/log.csv" "$work/micro/loss.png" "$work/micro_eval/metrics.json" \
  "$work/micro_eval/metrics.md" "$OUT/micro/"
cp "$work/micro/model.safetensors" "$work/micro/config.json" "$work/micro/tokenizer.json" \
  "$work/micro/preprocessor_config.json" "$OUT/micro/"
head -3 "$work/micro_eval/responses.jsonl" | cut -c1-400
