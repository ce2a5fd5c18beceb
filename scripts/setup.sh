#!/usr/bin/env bash
# Installs what lmmrotate needs on a fresh Debian 12 machine that has Rust and Python 3.11:
# a virtualenv (.venv) with torch==2.11.0, whose libtorch the Florence-2 plugin links (tch 0.24.0
# pins exactly this PyTorch). Idempotent: skips what is present. Writes .env.sh, which sets
# LIBTORCH and LD_LIBRARY_PATH; the other scripts source it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

TORCH_VERSION="2.11.0"
venv="$root/.venv"

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 2; }
command -v python3 >/dev/null || { echo "setup: python3 not found" >&2; exit 2; }

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating virtualenv $venv"
    python3 -m venv "$venv"
fi

have_torch() {
    "$venv/bin/python" - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, torch
sys.exit(0 if torch.__version__.split("+")[0] == sys.argv[1] else 1)
PY
}

if have_torch; then
    echo "setup: torch $TORCH_VERSION already installed"
else
    free_gb() { df -Pk "$root" | awk 'NR==2 {printf "%.1f", $4/1048576}'; }
    echo "setup: installing torch==$TORCH_VERSION (4.0 GB installed with its CUDA libraries, which"
    echo "       libtorch links even on CPU; $(free_gb) GB free on the disk of $root)"
    pip=("$venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir --no-warn-conflicts)
    fail() {
        echo "setup: $1 did not install; $(free_gb) GB now free on the disk of $root" \
             "(torch needs about 5.5 GB at the peak)" >&2
        exit 2
    }
    # One wheel at a time, without pip's cache: the disk never holds more than what is installed
    # plus the wheel being unpacked (a single `pip install torch` keeps every downloaded wheel, and
    # a cached copy of each, until the end: about 10 GB at the peak instead of 5.5). torch's own
    # wheel comes first only to read its requirements; it is installed last, when they are met.
    wheels="$venv/wheels"
    rm -rf "$wheels"
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-cache-dir --no-deps \
        --dest "$wheels" "torch==$TORCH_VERSION" || fail "torch==$TORCH_VERSION (download)"
    torch_wheel="$(ls "$wheels"/torch-*.whl)"
    mapfile -t deps < <("$venv/bin/python" - "$torch_wheel" <<'PY'
import sys, zipfile
from email.parser import Parser
from pip._vendor.packaging.requirements import Requirement
with zipfile.ZipFile(sys.argv[1]) as whl:
    name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
    meta = Parser().parsestr(whl.read(name).decode())
for line in meta.get_all("Requires-Dist") or []:
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate({"extra": ""}):
        print(str(req).split(";")[0].strip())
PY
)
    for dep in "${deps[@]}"; do
        # triton (0.6 GB) compiles Python-side kernels (torch.compile); libtorch never loads it.
        case "$dep" in triton*) continue ;; esac
        "${pip[@]}" "$dep" || fail "$dep (a dependency of torch)"
    done
    "${pip[@]}" --no-deps "$torch_wheel" || fail "torch==$TORCH_VERSION"
    rm -rf "$wheels"
    have_torch || { echo "setup: torch $TORCH_VERSION did not install" >&2; exit 2; }
fi

# Chromium only checks the HTML matrix report in a test (skipped without it): install it where
# we can (root with apt), never fail set-up over it.
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing chromium (headless check of the matrix report)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
            || echo "setup: chromium did not install; the browser check of the matrix test will be skipped" >&2
    else
        echo "setup: no chromium (needs root and apt-get); the browser check of the matrix test will be skipped"
    fi
fi

torch_dir="$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
# cudarc opens NCCL (multi-GPU training) as `libnccl.so`; torch's wheel ships libnccl.so.2 only.
nccl_lib="$(dirname "$torch_dir")/nvidia/nccl/lib"
if [ -e "$nccl_lib/libnccl.so.2" ] && [ ! -e "$nccl_lib/libnccl.so" ]; then
    ln -s libnccl.so.2 "$nccl_lib/libnccl.so"
fi
cat > "$root/.env.sh" <<ENV
# Written by scripts/setup.sh: libtorch for the tch-based plugins, NCCL for multi-GPU runs.
export LIBTORCH="$torch_dir"
export LD_LIBRARY_PATH="$torch_dir/lib:$nccl_lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
echo "setup: wrote .env.sh (LIBTORCH=$torch_dir)"
