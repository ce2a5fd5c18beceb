//! Errors of the host. Each names the file, line, plugin or key that failed.

use lmmrotate_abi::{PluginError, PluginKind};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: {message}", path.display())]
    Registry { path: PathBuf, message: String },

    #[error("unknown {} `{name}` (available: {})", kind.as_str(), if available.is_empty() { "none registered".to_string() } else { available.join(", ") })]
    UnknownPlugin { kind: PluginKind, name: String, available: Vec<String> },

    #[error("plugin library {}: {message}", path.display())]
    Load { path: PathBuf, message: String },

    #[error("{} plugin `{name}`: {source}", kind.as_str())]
    Plugin {
        kind: PluginKind,
        name: String,
        #[source]
        source: PluginError,
    },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io { path: path.into(), source }
    }
}
