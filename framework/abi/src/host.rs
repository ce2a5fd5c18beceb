//! The handle through which a plugin logs, reports progress and learns of cancellation.
//!
//! A `cdylib` has its own copy of every global (loggers, progress bars), so plugins never print:
//! they call the host, which owns the terminal.

use abi_stable::{
    sabi_trait,
    std_types::{RArc, RStr},
    StableAbi,
};

#[repr(u8)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[sabi_trait]
pub trait Host: Clone + Send + Sync {
    fn log(&self, level: LogLevel, message: RStr<'_>);

    /// `done` of `total` units of the task named `label` (e.g. `"generate"`); total 0 = unknown.
    fn progress(&self, label: RStr<'_>, done: u64, total: u64);

    /// End of ABI 0.1: add new methods below this one, with default bodies.
    #[sabi(last_prefix_field)]
    fn cancelled(&self) -> bool;
}

/// The host handle as plugins hold it (cheap to clone).
pub type HostBox = Host_TO<'static, RArc<()>>;

impl HostBox {
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message.as_ref().into());
    }
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Warn, message.as_ref().into());
    }
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, message.as_ref().into());
    }
}

/// A host that discards everything; for in-process plugin tests.
#[derive(Clone, Default)]
pub struct NullHost;

impl Host for NullHost {
    fn log(&self, _: LogLevel, _: RStr<'_>) {}
    fn progress(&self, _: RStr<'_>, _: u64, _: u64) {}
    fn cancelled(&self) -> bool {
        false
    }
}

impl NullHost {
    pub fn boxed() -> HostBox {
        Host_TO::from_ptr(RArc::new(NullHost), abi_stable::sabi_trait::TD_Opaque)
    }
}
