#!/usr/bin/env bash
# Builds (release) what the GPU scripts run and copies it into carry/ (ignored by git; sent to the
# device machine with `carry: ["carry"]`): the lmmrotate binary, the plugin libraries the GPU
# registry (scripts/gpu/registry.toml) names, the parity example, and the PaliGemma plugin built
# with candle's CUDA backend (scripts/gpu/build_paligemma_cuda.sh: its own CUDA 13.0 virtualenv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=/dev/null
source .env.sh
cargo build --release -p lmmrotate-cli -p lmmrotate-model-florence2-tch -p lmmrotate-format-florence2 -p lmmrotate-dataset-dota \
  -p lmmrotate-format-paligemma
cargo build --release -p lmmrotate-model-florence2-tch --example parity
mkdir -p carry
cp target/release/lmmrotate target/release/examples/parity carry/
cp target/release/liblmmrotate_model_florence2_tch.so target/release/liblmmrotate_format_florence2.so \
   target/release/liblmmrotate_dataset_dota.so target/release/liblmmrotate_format_paligemma.so carry/
strip carry/lmmrotate carry/parity carry/*.so
# After the strip above: it copies and strips its own library.
bash scripts/gpu/build_paligemma_cuda.sh --carry
ls -la carry
