//! The collective operations a model needs for data-parallel training, provided by the host.
//!
//! The host owns the process group (rank, world size, rendezvous, NCCL); a model plugin gets a
//! handle through `Model::set_communicator` and calls it on its own buffers — CUDA device memory
//! (NCCL, on the legacy default stream of the buffer's device, so it is ordered with the
//! plugin's kernels there) or host memory. Buffers cross as raw addresses: the plugin keeps them
//! alive and unaliased for the duration of the call.

use crate::error::PluginError;
use abi_stable::{
    sabi_trait,
    std_types::{RArc, RResult},
    StableAbi,
};

#[repr(u8)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    BF16,
    F16,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
            DType::BF16 | DType::F16 => 2,
        }
    }
}

/// A contiguous buffer of `count` elements at address `ptr`.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub ptr: usize,
    pub count: u64,
    pub dtype: DType,
    /// CUDA device ordinal, or -1 for host memory.
    pub device: i32,
}

impl Buffer {
    /// A host-memory buffer over a slice of f32 (what CPU training reduces).
    pub fn host_f32(values: &mut [f32]) -> Self {
        Self { ptr: values.as_mut_ptr() as usize, count: values.len() as u64, dtype: DType::F32, device: -1 }
    }
    pub fn host_f64(values: &mut [f64]) -> Self {
        Self { ptr: values.as_mut_ptr() as usize, count: values.len() as u64, dtype: DType::F64, device: -1 }
    }
    pub fn is_host(&self) -> bool {
        self.device < 0
    }
}

#[sabi_trait]
pub trait Communicator: Send + Sync {
    fn rank(&self) -> u32;

    fn world_size(&self) -> u32;

    /// Sums `buffer` over all ranks, in place; every rank gets the same values.
    fn all_reduce_sum(&self, buffer: Buffer) -> RResult<(), PluginError>;

    /// End of ABI 0.1: add new methods below this one, with default bodies.
    /// Overwrites `buffer` on every rank with its contents on rank `root`.
    #[sabi(last_prefix_field)]
    fn broadcast(&self, buffer: Buffer, root: u32) -> RResult<(), PluginError>;
}

/// The communicator as plugins hold it (cheap to clone; shared with the host).
pub type CommBox = Communicator_TO<'static, RArc<()>>;

impl CommBox {
    /// Wraps a host-side implementation.
    pub fn new<T: Communicator + 'static>(comm: T) -> Self {
        Communicator_TO::from_ptr(RArc::new(comm), abi_stable::sabi_trait::TD_Opaque)
    }
}
