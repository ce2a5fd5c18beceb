//! The process group: host-side collectives for the driver and the `Communicator` for the model.

use crate::{
    env::DistEnv,
    error::{DistError, Result},
    nccl::Nccl,
    reduce::sum_into,
    tcp::TcpGroup,
};
use lmmrotate_abi::{
    abi_stable::std_types::{RResult, RString},
    Buffer, CommBox, Communicator, ErrorKind, PluginError,
};
use std::sync::{Arc, Mutex};

/// What a group of ranks can do among themselves on the host: gather one byte string from each.
pub trait Collective: Send + Sync {
    fn rank(&self) -> u32;
    fn world_size(&self) -> u32;
    /// Every rank's `data`, in rank order, on every rank.
    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>>;
}

/// The ranks of a run: host-side collectives, and NCCL for CUDA buffers once one is reduced.
pub struct ProcessGroup {
    host: Box<dyn Collective>,
    nccl: Mutex<Option<Nccl>>,
}

impl ProcessGroup {
    pub fn new(host: Box<dyn Collective>) -> Arc<Self> {
        Arc::new(Self { host, nccl: Mutex::new(None) })
    }

    /// Connects the ranks described by `env` (returns when all have arrived).
    pub fn connect(env: &DistEnv) -> Result<Arc<Self>> {
        Ok(Self::new(Box::new(TcpGroup::connect(env)?)))
    }

    /// A group of one (no peers, no sockets).
    pub fn single() -> Arc<Self> {
        struct One;
        impl Collective for One {
            fn rank(&self) -> u32 {
                0
            }
            fn world_size(&self) -> u32 {
                1
            }
            fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
                Ok(vec![data.to_vec()])
            }
        }
        Self::new(Box::new(One))
    }

    pub fn rank(&self) -> u32 {
        self.host.rank()
    }
    pub fn world_size(&self) -> u32 {
        self.host.world_size()
    }
    pub fn is_main(&self) -> bool {
        self.rank() == 0
    }

    pub fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.host.all_gather(data)
    }

    /// Waits until every rank has arrived here.
    pub fn barrier(&self) -> Result<()> {
        self.all_gather(&[]).map(|_| ())
    }

    /// Sums `values` over the ranks, in place (f64, host memory: logged scalars and flags).
    pub fn all_reduce_f64(&self, values: &mut [f64]) -> Result<()> {
        self.reduce_host(Buffer::host_f64(values))
    }

    /// The handle a model plugin gets.
    pub fn communicator(self: &Arc<Self>) -> CommBox {
        CommBox::new(Handle(self.clone()))
    }

    fn reduce_host(&self, b: Buffer) -> Result<()> {
        let bytes = host_bytes(&b);
        let parts = self.all_gather(bytes)?;
        sum_into(b.dtype, &parts, bytes)
    }

    fn broadcast_host(&self, b: Buffer, root: u32) -> Result<()> {
        let bytes = host_bytes(&b);
        let mine = if self.rank() == root { bytes.to_vec() } else { Vec::new() };
        let parts = self.all_gather(&mine)?;
        let src = &parts[root as usize];
        if src.len() != bytes.len() {
            return Err(DistError::Peer { rank: root, reason: format!("broadcast {} bytes into a buffer of {}", src.len(), bytes.len()) });
        }
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn with_nccl<T>(&self, device: i32, f: impl FnOnce(&Nccl) -> Result<T>) -> Result<T> {
        let mut slot = self.nccl.lock().map_err(|_| DistError::Invalid("NCCL communicator poisoned".into()))?;
        if slot.is_none() {
            *slot = Some(Nccl::init(self.host.as_ref(), device)?);
        }
        f(slot.as_ref().expect("initialised"))
    }

    pub fn all_reduce_sum(&self, b: Buffer) -> Result<()> {
        if b.is_host() {
            self.reduce_host(b)
        } else {
            self.with_nccl(b.device, |n| n.all_reduce_sum(b))
        }
    }

    pub fn broadcast(&self, b: Buffer, root: u32) -> Result<()> {
        if root >= self.world_size() {
            return Err(DistError::Invalid(format!("broadcast from rank {root} in a group of {}", self.world_size())));
        }
        if b.is_host() {
            self.broadcast_host(b, root)
        } else {
            self.with_nccl(b.device, |n| n.broadcast(b, root))
        }
    }
}

/// The bytes of a host buffer.
fn host_bytes<'a>(b: &Buffer) -> &'a mut [u8] {
    if b.count == 0 {
        return &mut [];
    }
    // SAFETY: the caller of the collective guarantees `count` elements at `ptr`, alive and not
    // aliased for the duration of the call (the `Communicator` contract).
    unsafe { std::slice::from_raw_parts_mut(b.ptr as *mut u8, b.count as usize * b.dtype.size()) }
}

struct Handle(Arc<ProcessGroup>);

fn to_abi(r: Result<()>) -> RResult<(), PluginError> {
    r.map_err(|e| PluginError::new(ErrorKind::BACKEND, RString::from(e.to_string()))).into()
}

impl Communicator for Handle {
    fn rank(&self) -> u32 {
        self.0.rank()
    }
    fn world_size(&self) -> u32 {
        self.0.world_size()
    }
    fn all_reduce_sum(&self, buffer: Buffer) -> RResult<(), PluginError> {
        to_abi(self.0.all_reduce_sum(buffer))
    }
    fn broadcast(&self, buffer: Buffer, root: u32) -> RResult<(), PluginError> {
        to_abi(self.0.broadcast(buffer, root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalGroup;

    #[test]
    fn communicator_reduces_and_broadcasts_host_buffers_across_threads() {
        let groups = LocalGroup::new(3);
        let out: Vec<(Vec<f32>, Vec<f32>, Vec<f64>)> = std::thread::scope(|s| {
            let hs: Vec<_> = groups
                .into_iter()
                .map(|g| {
                    s.spawn(move || {
                        let pg = ProcessGroup::new(Box::new(g));
                        let comm = pg.communicator();
                        let r = comm.rank() as f32;
                        let mut grads = vec![r, 10.0 * r, 1.0];
                        comm.all_reduce_sum(Buffer::host_f32(&mut grads)).unwrap();
                        let mut w = vec![r + 5.0; 2];
                        comm.broadcast(Buffer::host_f32(&mut w), 1).unwrap();
                        let mut scalars = [r as f64, 1.0];
                        pg.all_reduce_f64(&mut scalars).unwrap();
                        pg.barrier().unwrap();
                        (grads, w, scalars.to_vec())
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (grads, w, scalars) in out {
            assert_eq!(grads, vec![3.0, 30.0, 3.0]);
            assert_eq!(w, vec![6.0, 6.0]);
            assert_eq!(scalars, vec![3.0, 3.0]);
        }
    }

    #[test]
    fn a_group_of_one_needs_no_peers() {
        let pg = ProcessGroup::single();
        let mut v = [2.0f32];
        pg.communicator().all_reduce_sum(Buffer::host_f32(&mut v)).unwrap();
        assert_eq!(v, [2.0]);
        let e = pg.broadcast(Buffer::host_f32(&mut v), 1).unwrap_err().to_string();
        assert!(e.contains("rank 1 in a group of 1"), "{e}");
    }
}
