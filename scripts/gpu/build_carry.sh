#!/usr/bin/env bash
# Builds (release) what the GPU scripts run and copies it into carry/ (ignored by git; sent to the
# device machine with `carry: ["carry"]`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=/dev/null
source .env.sh
cargo build --release -p lmmrotate-model-florence2-tch --example parity
mkdir -p carry
cp target/release/examples/parity carry/
strip carry/parity
ls -la carry
