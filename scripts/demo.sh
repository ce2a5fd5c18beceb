#!/usr/bin/env bash
# The main job on the embedded default. Until the micro Florence-2 checkpoint and the synthetic
# dataset land (issue: embedded default), it sets up, builds the binary and every plugin, and
# shows what is registered and whether it loads, then decodes a sample Florence-2 response.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# shellcheck source=/dev/null
source .env.sh
echo "demo: building lmmrotate and its plugins (release)"
cargo build --release --workspace
bin="$root/target/release/lmmrotate"
echo "demo: registered plugins"
"$bin" plugins || true
echo "demo: decoding the worked example of the v2 response format"
"$bin" decode --format v2 --size 1024x1024 --classes plane,small-vehicle \
  'plane<loc_292><loc_48><loc_292><loc_97><loc_351><loc_97><loc_351><loc_48><sep><loc_175><loc_185><loc_97><loc_195><loc_107><loc_263><loc_185><loc_253>small vehicle<loc_500><loc_500><loc_500><loc_509><loc_519><loc_509><loc_519><loc_500>'
