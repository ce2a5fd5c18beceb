#!/usr/bin/env bash
# Runs every test of the workspace, the libtorch plugin included: sets up libtorch first if
# needed (scripts/setup.sh), then `cargo test --workspace`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# shellcheck source=/dev/null
source .env.sh
cargo test --workspace "$@"
