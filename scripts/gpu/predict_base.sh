#!/usr/bin/env bash
# On the CUDA machine: `lmmrotate predict` with Florence-2-base-sized weights (random, made by HF
# transformers and saved in its native layout) on generated scenes, on the GPU, 3 beams.
# Needs carry/ from scripts/gpu/build_carry.sh. Writes the predictions under $OUT/predict_base.
set -euo pipefail
torch_lib="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
OUT="${OUT:-out}"
work="${TMPDIR:-/tmp}/lmm_predict"
python3 - "$work/ckpt" <<'PY'
import shutil, sys, torch
sys.path.insert(0, "scripts/gpu")
from bench_vs_hf import hf_config, TOKENIZER
from transformers import Florence2ForConditionalGeneration
torch.manual_seed(0)
m = Florence2ForConditionalGeneration(hf_config("base", 1024))
# As the converted florence-community checkpoints ship it (florence2.md §1.2).
m.generation_config.forced_bos_token_id = 0
m.generation_config.no_repeat_ngram_size = 3
m.save_pretrained(sys.argv[1])
shutil.copy(TOKENIZER, sys.argv[1])
PY
lmm() { ./carry/lmmrotate --registry scripts/gpu/registry.toml "$@"; }
lmm -q data synth --out "$work/scenes" --images 4 --size 512 --seed 3
lmm predict --model base-random --checkpoint "$work/ckpt" --format v2 --classes "$work/scenes/classes.txt" \
  --image-size 768 --device cuda --dtype bf16 --num-beams 3 --max-new-tokens 64 --raw --out "$OUT/predict_base" \
  "$work/scenes/images"
ls "$OUT/predict_base" "$OUT/predict_base/vis"
cut -c1-300 "$OUT/predict_base/predictions.jsonl"
