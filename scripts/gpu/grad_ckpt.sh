#!/usr/bin/env bash
# Memory levers on one CUDA GPU: `lmmrotate bench train` plain, with gradient checkpointing, and
# with it and without fp32 master weights (HF's bf16 setting), at Florence-2-base@768 and -large@1024 (random
# init, bf16, batch 2, 1,024-token targets: the shapes of bench_vs_hf.py); prints step time and
# device memory (driver view) of each. Needs carry/ from scripts/gpu/build_carry.sh (or the
# release lmmrotate + Florence-2 plugin copied there). Results: $OUT/grad_ckpt.jsonl.
set -euo pipefail
source scripts/gpu/env.sh
out="${OUT:-/tmp}/grad_ckpt.jsonl"
for model in ${MODELS:-base-random large-random}; do
  for opts in '{}' '{"gradient_checkpointing":true}' '{"gradient_checkpointing":true,"master_weights":false}'; do
    lmm bench train --model "$model" --model-config '{"dtype":"bf16"}' --batch 2 --target-tokens 1024 \
      --steps "${STEPS:-5}" --warmup 2 --train-options "$opts" --json | tee -a "$out"
  done
done
