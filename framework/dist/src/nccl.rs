//! NCCL collectives on CUDA buffers, through cudarc (loaded at run time).
//!
//! The communicator is created the first time a rank reduces a CUDA buffer: rank 0 makes the
//! unique id and the host-side group hands it to the others. Operations run on the legacy default
//! stream of the buffer's device, where libtorch's kernels run too, so no extra synchronisation
//! is needed around them.

use crate::{
    error::{DistError, Result},
    group::Collective,
};
use cudarc::{
    driver::CudaContext,
    nccl::{result, sys},
};
use lmmrotate_abi::{Buffer, DType};
use std::sync::Arc;

pub struct Nccl {
    comm: sys::ncclComm_t,
    ctx: Arc<CudaContext>,
    device: i32,
}

// SAFETY: an NCCL communicator may be used from any thread as long as calls on it do not
// overlap; `ProcessGroup` keeps it behind a mutex.
unsafe impl Send for Nccl {}
unsafe impl Sync for Nccl {}

const LIBRARY_HINT: &str = "cudarc loads NCCL as `libnccl.so`: put a symlink of that name to the libnccl.so.2 that torch \
     installs (site-packages/nvidia/nccl/lib) on LD_LIBRARY_PATH (scripts/setup.sh and scripts/gpu/env.sh do)";

/// Runs a cudarc call that may panic when a library cannot be loaded.
fn loaded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
        DistError::Nccl(format!("{what}: {msg} ({LIBRARY_HINT})"))
    })
}

impl Nccl {
    /// Joins every rank of `group` into one NCCL communicator on CUDA `device`; collective.
    pub fn init(group: &dyn Collective, device: i32) -> Result<Self> {
        let ctx = loaded("CUDA driver", || CudaContext::new(device as usize))?
            .map_err(|e| DistError::Nccl(format!("cannot open CUDA device {device}: {e}")))?;
        let mine = if group.rank() == 0 {
            let id = loaded("ncclGetUniqueId", result::get_uniqueid)?.map_err(|e| DistError::Nccl(format!("ncclGetUniqueId: {e:?}")))?;
            id.internal.iter().map(|&c| c as u8).collect()
        } else {
            Vec::new()
        };
        let all = group.all_gather(&mine)?;
        let bytes = &all[0];
        if bytes.len() != 128 {
            // Rank 0 failed before making an id; its own error explains why.
            return Err(DistError::Peer { rank: 0, reason: "sent no NCCL unique id".into() });
        }
        let mut id = sys::ncclUniqueId { internal: [0; 128] };
        for (d, &b) in id.internal.iter_mut().zip(bytes) {
            *d = b as _;
        }
        let mut comm = std::ptr::null_mut();
        ctx.bind_to_thread().map_err(|e| DistError::Nccl(format!("CUDA device {device}: {e}")))?;
        // SAFETY: `comm` is a valid out-pointer; every rank passes the same id and world size.
        unsafe { result::comm_init_rank(&mut comm, group.world_size() as i32, id, group.rank() as i32) }
            .map_err(|e| DistError::Nccl(format!("ncclCommInitRank (rank {} of {}): {e:?}", group.rank(), group.world_size())))?;
        tracing::debug!("NCCL {:?} ready on cuda:{device}", result::get_nccl_version().ok());
        Ok(Self { comm, ctx, device })
    }

    pub fn device(&self) -> i32 {
        self.device
    }

    fn check(&self, buffer: &Buffer) -> Result<sys::ncclDataType_t> {
        if buffer.device != self.device {
            return Err(DistError::Invalid(format!("buffer on cuda:{} but the NCCL communicator is on cuda:{}", buffer.device, self.device)));
        }
        self.ctx.bind_to_thread().map_err(|e| DistError::Nccl(e.to_string()))?;
        Ok(match buffer.dtype {
            DType::F32 => sys::ncclDataType_t::ncclFloat32,
            DType::F64 => sys::ncclDataType_t::ncclFloat64,
            DType::BF16 => sys::ncclDataType_t::ncclBfloat16,
            DType::F16 => sys::ncclDataType_t::ncclFloat16,
        })
    }

    pub fn all_reduce_sum(&self, buffer: Buffer) -> Result<()> {
        let dtype = self.check(&buffer)?;
        let p = buffer.ptr as *mut std::ffi::c_void;
        // SAFETY: the caller guarantees `count` elements of device memory at `ptr`; in place is
        // allowed by NCCL; the null stream is the legacy default stream.
        unsafe { result::all_reduce(p, p, buffer.count as usize, dtype, sys::ncclRedOp_t::ncclSum, self.comm, std::ptr::null_mut()) }
            .map(|_| ())
            .map_err(|e| DistError::Nccl(format!("ncclAllReduce of {} elements: {e:?}", buffer.count)))
    }

    pub fn broadcast(&self, buffer: Buffer, root: u32) -> Result<()> {
        let dtype = self.check(&buffer)?;
        let p = buffer.ptr as *mut std::ffi::c_void;
        // SAFETY: as in `all_reduce_sum`.
        unsafe { result::broadcast(p, p, buffer.count as usize, dtype, root as i32, self.comm, std::ptr::null_mut()) }
            .map(|_| ())
            .map_err(|e| DistError::Nccl(format!("ncclBroadcast of {} elements: {e:?}", buffer.count)))
    }
}

// No `Drop`: ncclCommDestroy can block on a peer that died; the process exit releases the
// communicator instead.
