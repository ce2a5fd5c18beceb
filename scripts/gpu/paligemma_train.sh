#!/usr/bin/env bash
# On the CUDA machine: a small random-init PaliGemma (SigLIP 4 × 256 at 224 px, Gemma 4 × 512,
# bf16) trained by lmmrotate (`lmmrotate train`, full fine-tuning and LoRA, plus a fixed-shape
# `lmmrotate bench train`) and by HF transformers on the same weights and shapes; prints samples/s
# of each and writes $OUT/paligemma_vs_hf.json (scripts/gpu/paligemma_vs_hf.py says what is
# measured). About a minute on an H100. Needs carry/ with the CUDA build of the plugin:
#   bash scripts/gpu/build_carry.sh      (on the CPU machine; includes build_paligemma_cuda.sh)
# Environment: OUT (default out), STEPS (150), BATCH (8), TARGET (64 target tokens). On the
# device machine (run tool): carry ["carry"], command `bash scripts/gpu/paligemma_train.sh`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# build_paligemma_cuda.sh --carry ships the plugin compressed.
lib=carry/liblmmrotate_model_paligemma_candle.so
if [ -e "$lib.xz" ] && { [ ! -e "$lib" ] || [ "$lib.xz" -nt "$lib" ]; }; then
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$lib.xz" "$lib"
fi
for f in carry/lmmrotate "$lib" carry/liblmmrotate_format_paligemma.so \
         carry/liblmmrotate_dataset_dota.so; do
  [ -e "$f" ] || { echo "error: $f is missing: run scripts/gpu/build_carry.sh on the build machine first" >&2; exit 2; }
done
python3 -c 'import torch, transformers' 2>/dev/null || { echo "error: python3 cannot import torch and transformers" >&2; exit 2; }
source scripts/gpu/env.sh
OUT="${OUT:-out}"; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
# The CUDA libraries the plugin needs must resolve here (libcuda from the driver, the rest from
# torch's nvidia wheels on LD_LIBRARY_PATH).
if ldd carry/liblmmrotate_model_paligemma_candle.so | grep -q "not found"; then
  echo "error: libraries of the plugin not found:" >&2
  ldd carry/liblmmrotate_model_paligemma_candle.so | grep "not found" >&2
  exit 2
fi
python3 scripts/gpu/paligemma_vs_hf.py --out "$OUT" "$@" 2>&1 | tee "$OUT/paligemma_vs_hf.log"
exit "${PIPESTATUS[0]}"
