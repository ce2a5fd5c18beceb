//! Florence-2 on libtorch.
pub fn cuda() -> bool { tch::Cuda::is_available() }
