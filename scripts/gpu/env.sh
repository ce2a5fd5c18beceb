# Sourced by the GPU scripts on the device machine: torch's libraries on LD_LIBRARY_PATH, the CUDA
# 13 libraries of torch's nvidia wheels (cuBLAS, cuRAND, NVRTC: the candle plugin links them), and
# a `libnccl.so` link to the NCCL that torch installs (cudarc opens NCCL by that name; the wheel
# ships only libnccl.so.2).
torch_dir="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
nccl_lib="$(dirname "$torch_dir")/nvidia/nccl/lib"
link_dir="${TMPDIR:-/tmp}/lmmrotate-nccl"
if [ -e "$nccl_lib/libnccl.so.2" ]; then
  mkdir -p "$link_dir" && ln -sf "$nccl_lib/libnccl.so.2" "$link_dir/libnccl.so"
fi
cu13_lib="$(dirname "$torch_dir")/nvidia/cu13/lib"
export LD_LIBRARY_PATH="$torch_dir/lib:$cu13_lib:$link_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
lmm() { ./carry/lmmrotate -q --registry scripts/gpu/registry.toml "$@"; }
