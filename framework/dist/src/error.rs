//! Errors of the process group; each names the variable, peer or address that failed.

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("environment variable {var}={value:?}: {reason}")]
    Env { var: String, value: String, reason: String },
    #[error("rendezvous at {addr}: {reason}")]
    Rendezvous { addr: String, reason: String },
    #[error("rank {rank}: {reason}")]
    Peer { rank: u32, reason: String },
    #[error("NCCL: {0}")]
    Nccl(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = DistError> = std::result::Result<T, E>;
