//! The error that crosses the boundary: a kind and a chain of messages, outermost first.

use abi_stable::{std_types::{RString, RVec}, StableAbi};
use std::fmt;

/// What went wrong, as a stable numeric code.
///
/// A transparent `u32` rather than an enum so that new kinds can be added without changing the
/// type layout; unknown codes display as `error`.
#[repr(transparent)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorKind(pub u32);

impl ErrorKind {
    pub const OTHER: Self = Self(0);
    /// The configuration JSON or an option was invalid.
    pub const INVALID_CONFIG: Self = Self(1);
    /// A file could not be read or written.
    pub const IO: Self = Self(2);
    /// Input data (annotation, checkpoint, text) could not be parsed.
    pub const PARSE: Self = Self(3);
    /// The compute backend (libtorch, CUDA, candle) failed.
    pub const BACKEND: Self = Self(4);
    /// The plugin panicked; the panic was caught at the boundary.
    pub const PANICKED: Self = Self(5);
    /// The entry does not support the requested operation.
    pub const UNSUPPORTED: Self = Self(6);
    /// The host asked the plugin to stop.
    pub const CANCELLED: Self = Self(7);
    /// An entry name that the library does not provide.
    pub const UNKNOWN_ENTRY: Self = Self(8);

    pub fn name(self) -> &'static str {
        match self {
            Self::INVALID_CONFIG => "invalid config",
            Self::IO => "i/o error",
            Self::PARSE => "parse error",
            Self::BACKEND => "backend error",
            Self::PANICKED => "plugin panicked",
            Self::UNSUPPORTED => "unsupported",
            Self::CANCELLED => "cancelled",
            Self::UNKNOWN_ENTRY => "unknown entry",
            _ => "error",
        }
    }
}

/// An error returned by a plugin. `chain[0]` is the outermost context, the last is the root cause.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginError {
    pub kind: ErrorKind,
    pub chain: RVec<RString>,
}

impl PluginError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, chain: RVec::from(vec![RString::from(message.into())]) }
    }

    /// Builds an error from any `std` error, keeping its `source()` chain as messages.
    pub fn from_std(kind: ErrorKind, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = vec![RString::from(err.to_string())];
        let mut cur = err.source();
        while let Some(e) = cur {
            chain.push(RString::from(e.to_string()));
            cur = e.source();
        }
        Self { kind, chain: RVec::from(chain) }
    }

    /// Adds an outer context message.
    pub fn context(mut self, message: impl Into<String>) -> Self {
        self.chain.insert(0, RString::from(message.into()));
        self
    }

    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.chain.iter().map(|s| s.as_str())
    }
}

impl fmt::Display for PluginError {
    /// `kind: outer: ...: root cause`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.name())?;
        for m in self.chain.iter() {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PluginError {}

/// `result.ctx(kind, "reading x")?` for plugin code.
pub trait ResultExt<T> {
    fn ctx(self, kind: ErrorKind, message: impl FnOnce() -> String) -> Result<T, PluginError>;
}

impl<T, E: std::error::Error + 'static> ResultExt<T> for Result<T, E> {
    fn ctx(self, kind: ErrorKind, message: impl FnOnce() -> String) -> Result<T, PluginError> {
        self.map_err(|e| PluginError::from_std(kind, &e).context(message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_kind_and_chain_outermost_first() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = PluginError::from_std(ErrorKind::IO, &io).context("reading a.txt");
        assert_eq!(e.to_string(), "i/o error: reading a.txt: no such file");
        assert_eq!(ErrorKind(999).name(), "error");
    }
}
