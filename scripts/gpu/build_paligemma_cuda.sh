#!/usr/bin/env bash
# Builds the PaliGemma plugin with candle's CUDA backend on a machine without a GPU or a CUDA
# toolkit (shared/GPU.md): the CUDA 13.0 compiler and libraries come from PyPI wheels in their own
# virtualenv (.venv-cuda, never the project's .venv), and a stand-in libcuda takes the driver's
# place at link time. With --carry, puts the library (stripped, xz) into carry/ for the GPU scripts.
#
#   bash scripts/gpu/build_paligemma_cuda.sh [--carry]
#
# Environment: CUDA_VENV (default .venv-cuda), CUDA_COMPUTE_CAP (default 90: H100/H200),
# CUDA_TARGET_DIR (default target-cuda: its own folder, so that the CPU build of the same library
# in target/ stays as it is). The first run installs about 1 GB of wheels and compiles candle's
# kernels with nvcc (about an hour on 2 cores); later runs are incremental.
#
# At run time the plugin needs the machine's libcuda.so.1 (the driver) and the wheels' libcublas,
# libcublasLt, libcurand and libnvrtc (PyTorch's cu130 install has them in
# site-packages/nvidia/cu13/lib): scripts/gpu/env.sh puts that folder on LD_LIBRARY_PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
venv="${CUDA_VENV:-$root/.venv-cuda}"
carry=0
[ "${1:-}" = "--carry" ] && carry=1

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# ptxas of nvcc 13.0 rejects the PTX of newer nvvm / crt: keep all four at 13.0.
"$venv/bin/pip" install -q \
  'nvidia-cuda-nvcc==13.0.*' 'nvidia-cuda-cccl==13.0.*' 'nvidia-nvvm==13.0.*' 'nvidia-cuda-crt==13.0.*' \
  'nvidia-cuda-runtime==13.0.*' 'nvidia-cublas==13.0.*' 'nvidia-curand==10.4.0.*' 'nvidia-cuda-nvrtc==13.0.*'
cu="$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')"
[ -x "$cu/bin/nvcc" ] || { echo "error: no nvcc at $cu/bin/nvcc (nvidia-cuda-nvcc wheel layout changed?)" >&2; exit 2; }

# Unversioned names for the linker (-lcublas ...); the SONAMEs (libcublas.so.13 ...) are what the
# library records and looks up at run time.
for lib in cudart cublas cublasLt curand nvrtc; do
  real="$(cd "$cu/lib" && ls "lib$lib.so."* 2>/dev/null | grep -v alt | head -1)"
  [ -n "$real" ] || { echo "error: lib$lib.so.* missing in $cu/lib" >&2; exit 2; }
  ln -sf "$real" "$cu/lib/lib$lib.so"
done

# A stand-in libcuda.so with the driver's SONAME (libcuda.so.1) that exports every cu* function
# cudarc declares: links here, and at run time the machine's real libcuda.so.1 is loaded instead.
cargo fetch -q
sys="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.10/src/driver/sys/mod.rs | head -1)"
[ -f "$sys" ] || { echo "error: cudarc 0.19.10 sources not found (cargo fetch failed?)" >&2; exit 2; }
stub="$cu/lib/libcuda.so"
if [ ! -f "$stub" ] || [ "$sys" -nt "$stub" ]; then
  src="$(mktemp -d)/cuda_stub.c"
  grep -oE 'pub unsafe fn cu[A-Za-z0-9_]+' "$sys" | awk '{print $4}' | sort -u |
    awk '{print "int " $1 "(void) { return 999; }"}' > "$src"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub" "$src"
  echo "stand-in libcuda: $(wc -l < "$src") functions"
fi

export PATH="$cu/bin:$PATH" CUDA_ROOT="$cu" CUDA_HOME="$cu" CUDA_PATH="$cu"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export CARGO_TARGET_DIR="${CUDA_TARGET_DIR:-$root/target-cuda}"
nvcc --version | tail -2
cargo build --release -p lmmrotate-model-paligemma-candle --features cuda
out="$CARGO_TARGET_DIR/release/liblmmrotate_model_paligemma_candle.so"
[ -f "$out" ] || { echo "error: $out was not built" >&2; exit 2; }
echo "NEEDED: $(readelf -d "$out" | awk '/NEEDED/ {print $5}' | tr -d '[]' | tr '\n' ' ')"
if [ "$carry" = 1 ]; then
  # The embedded kernels make the library about 55 MB even stripped; xz brings it to about 7 MB
  # (carry/ travels whole to the device machine). scripts/gpu/paligemma_train.sh unpacks it.
  mkdir -p carry
  rm -f carry/liblmmrotate_model_paligemma_candle.so
  tmp="$(mktemp)"
  strip -o "$tmp" "$out"
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(open(sys.argv[1], "rb"), lzma.open(sys.argv[2], "wb", preset=6))' \
    "$tmp" carry/liblmmrotate_model_paligemma_candle.so.xz
  rm -f "$tmp"
  echo "carry/liblmmrotate_model_paligemma_candle.so.xz: $(du -h carry/liblmmrotate_model_paligemma_candle.so.xz | cut -f1)"
fi
