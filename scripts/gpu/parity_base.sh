#!/usr/bin/env bash
# On the CUDA machine: Florence-2-base-sized random weights made by HF transformers, compared with
# the Rust implementation in fp32 on CPU and on CUDA (image features, encoder output, logits,
# greedy and 3-beam generations). Needs carry/parity (the release example binary, built here with
# scripts/gpu/build_carry.sh). Writes $OUT/parity_base.json lines.
set -euo pipefail
torch_lib="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work="${TMPDIR:-/tmp}/parity_base"
python3 scripts/goldens/florence2_reference.py "$work" base
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for dev in cpu cuda; do
  ./carry/parity "$work" "$dev" | tee -a "${OUT:-.}/parity_base.json"
done
