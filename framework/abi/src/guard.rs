//! Turns a panic inside plugin code into an [`PluginError`] of kind `PANICKED`.
//!
//! `#[sabi_trait]` vtables and `extern "C"` functions abort the process on an unwinding panic, so
//! every entry point must catch panics *inside* the plugin. The adapters in [`crate::boundary`]
//! call this around every trait method; plugin authors need not call it themselves.

use crate::error::{ErrorKind, PluginError};
use abi_stable::std_types::RResult;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, mapping a panic to an error that carries the panic message.
pub fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.into(),
        Err(payload) => RResult::RErr(PluginError::new(ErrorKind::PANICKED, panic_message(&*payload))),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_error_with_message() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r: RResult<(), _> = guard(|| panic!("boom {}", 42));
        std::panic::set_hook(prev);
        let e = r.unwrap_err();
        assert_eq!(e.kind, ErrorKind::PANICKED);
        assert_eq!(e.to_string(), "plugin panicked: boom 42");
    }

    #[test]
    fn ok_and_err_pass_through() {
        assert_eq!(guard(|| Ok::<_, PluginError>(3)).unwrap(), 3);
        let e = guard(|| Err::<(), _>(PluginError::new(ErrorKind::IO, "x"))).unwrap_err();
        assert_eq!(e.kind, ErrorKind::IO);
    }
}
