//! Links libtorch's CUDA library explicitly (with `--as-needed` linking it is dropped because no
//! symbol of it is referenced directly, and CUDA is then silently absent at run time), and
//! compiles the C++ shims (csrc/: the fused AdamW kernel, activation recomputation) against
//! libtorch's headers.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=csrc");
    let Ok(dir) = std::env::var("LIBTORCH") else {
        panic!("LIBTORCH is not set: run scripts/setup.sh and `source .env.sh` (tch needs it too)");
    };
    let root = std::path::Path::new(&dir);
    let lib = root.join("lib");
    // PyTorch's wheels use the C++11 ABI since 2.7 (the version pinned here is 2.11).
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("csrc/fused_adamw.cpp")
        .file("csrc/recompute.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .warnings(false)
        .compile("lmm_torch_shim");
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
