//! lmmrotate-dist: the process group of a data-parallel run.
//!
//! One process per GPU (or per CPU rank). [`DistEnv`] reads rank, world size and rendezvous from
//! the variables that `lmmrotate launch`, torchrun and SLURM set; [`TcpGroup`] connects the ranks
//! through rank 0 at `MASTER_ADDR:MASTER_PORT` and carries small host-side collectives (barriers,
//! logged scalars, the NCCL id, CPU gradients); [`Nccl`] reduces CUDA buffers. [`ProcessGroup`]
//! puts them together behind the plugin ABI's `Communicator`. [`LocalGroup`] runs ranks as
//! threads of one process, for tests.

mod env;
mod error;
mod group;
mod local;
mod nccl;
mod reduce;
mod tcp;

pub use env::{DistEnv, DEFAULT_PORT};
pub use error::{DistError, Result};
pub use group::{Collective, ProcessGroup};
pub use local::LocalGroup;
pub use nccl::Nccl;
pub use tcp::TcpGroup;
