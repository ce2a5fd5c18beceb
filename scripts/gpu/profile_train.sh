#!/usr/bin/env bash
# On the CUDA machine: the time of each phase of a training step (inputs, forward, backward,
# optimizer) for the micro and base configurations, with the device synchronised between phases.
set -euo pipefail
torch_lib="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work="${TMPDIR:-/tmp}/lmm_prof"
lmm() { ./carry/lmmrotate --registry scripts/gpu/registry.toml "$@"; }
lmm -q data synth --out "$work/d256" --images 256 --size 256 --seed 1 --scene '{"min_objects":2,"max_objects":10,"object_scale":0.8}'
lmm -q data synth --out "$work/d512" --images 64 --size 512 --seed 2
for spec in "micro d256 32 fp32" "micro d256 8 fp32" "base-random d512 4 bf16" "base-random d512 4 fp32"; do
  set -- $spec
  echo "== $1 batch $3 $4 =="
  lmm train --model "$1" --dataset synthetic --dataset-root "$work/$2" --output_dir "$work/run_$1_$3_$4" --max_steps 12 \
    --per_device_train_batch_size "$3" --gradient_accumulation_steps 1 --learning_rate 1e-4 --save_steps 100000 \
    --model-config "{\"profile\": true, \"dtype\": \"$4\"}" 2>&1 | grep -E "step:|samples/s" | tail -5
done
