//! Errors of the host. Each names the file, line, plugin or key that failed.

use lmmrotate_abi::{PluginError, PluginKind};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    // The cause is part of the message (not a `#[source]`), so that `{:#}` chains print it once.
    #[error("cannot read {}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },

    #[error("{}: {message}", path.display())]
    Registry { path: PathBuf, message: String },

    #[error("unknown {} `{name}` (available: {})", kind.as_str(), if available.is_empty() { "none registered".to_string() } else { available.join(", ") })]
    UnknownPlugin { kind: PluginKind, name: String, available: Vec<String> },

    #[error("plugin library {}: {message}", path.display())]
    Load { path: PathBuf, message: String },

    #[error("{} plugin `{name}`: {error}", kind.as_str())]
    Plugin { kind: PluginKind, name: String, error: PluginError },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        CoreError::Io { path: path.into(), error }
    }
}
