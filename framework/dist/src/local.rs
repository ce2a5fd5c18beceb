//! Ranks as threads of one process: the same collectives as [`crate::TcpGroup`] over shared
//! memory, so that data-parallel logic is tested on CPU without sockets or GPUs.

use crate::{
    error::{DistError, Result},
    group::Collective,
};
use std::sync::{Arc, Barrier, Mutex};

struct Shared {
    slots: Mutex<Vec<Vec<u8>>>,
    barrier: Barrier,
}

pub struct LocalGroup {
    rank: u32,
    world: u32,
    shared: Arc<Shared>,
}

impl LocalGroup {
    /// One handle per rank; give each to its own thread.
    pub fn new(world: u32) -> Vec<Self> {
        let shared = Arc::new(Shared { slots: Mutex::new(vec![Vec::new(); world as usize]), barrier: Barrier::new(world as usize) });
        (0..world).map(|rank| Self { rank, world, shared: shared.clone() }).collect()
    }
}

impl Collective for LocalGroup {
    fn rank(&self) -> u32 {
        self.rank
    }
    fn world_size(&self) -> u32 {
        self.world
    }
    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        let poisoned = || DistError::Peer { rank: self.rank, reason: "another rank panicked".into() };
        self.shared.slots.lock().map_err(|_| poisoned())?[self.rank as usize] = data.to_vec();
        self.shared.barrier.wait();
        let all = self.shared.slots.lock().map_err(|_| poisoned())?.clone();
        // Nobody writes the next round's slot before everyone has read this round's.
        self.shared.barrier.wait();
        Ok(all)
    }
}
