//! Calls into the C++ shims (csrc/), which reach libtorch where tch 0.24 does not: a tch tensor
//! handle is a pointer to an at::Tensor, and a failing shim returns non-zero with its message in
//! a buffer the caller provides (csrc/shim.h).

use std::ffi::{c_char, c_int, c_void, CStr};
use tch::Tensor;

/// The at::Tensor behind a tch tensor, as the shims take it.
pub(crate) fn handle(t: &Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}

/// Runs `call` with an error buffer (pointer, length); the shim's message when it returns
/// non-zero.
pub(crate) fn call(call: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<(), String> {
    let mut err = vec![0 as c_char; 2048];
    if call(err.as_mut_ptr(), err.len()) == 0 {
        return Ok(());
    }
    // SAFETY: a failing shim has written a NUL-terminated message into `err` (csrc/shim.h).
    Err(unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy().into_owned())
}
