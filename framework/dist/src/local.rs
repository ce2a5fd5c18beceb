//! Ranks as threads of one process: the same collectives as [`crate::TcpGroup`] over shared
//! memory, so that data-parallel logic is tested on CPU without sockets or GPUs.

use crate::{
    error::{DistError, Result},
    group::Collective,
};
use std::sync::{Arc, Condvar, Mutex};

struct Shared {
    state: Mutex<State>,
    turn: Condvar,
}

/// A barrier that a rank's panic breaks (std's would leave the others waiting for ever).
struct State {
    slots: Vec<Vec<u8>>,
    arrived: u32,
    generation: u64,
    /// A rank that panicked (its handle was dropped while unwinding).
    broken: Option<u32>,
}

pub struct LocalGroup {
    rank: u32,
    world: u32,
    shared: Arc<Shared>,
}

impl LocalGroup {
    /// One handle per rank; give each to its own thread.
    pub fn new(world: u32) -> Vec<Self> {
        let state = State { slots: vec![Vec::new(); world as usize], arrived: 0, generation: 0, broken: None };
        let shared = Arc::new(Shared { state: Mutex::new(state), turn: Condvar::new() });
        (0..world).map(|rank| Self { rank, world, shared: shared.clone() }).collect()
    }

    /// Waits until all ranks have arrived at this point (or one has panicked).
    fn barrier(&self) -> Result<()> {
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        let generation = st.generation;
        st.arrived += 1;
        if st.arrived == self.world {
            st.arrived = 0;
            st.generation += 1;
            self.shared.turn.notify_all();
        }
        while st.generation == generation && st.broken.is_none() {
            st = self.shared.turn.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        match st.broken {
            Some(r) if st.generation == generation => Err(DistError::Peer { rank: r, reason: "panicked".into() }),
            _ => Ok(()),
        }
    }
}

impl Drop for LocalGroup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
            st.broken = Some(self.rank);
            self.shared.turn.notify_all();
        }
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
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner()).slots[self.rank as usize] = data.to_vec();
        self.barrier()?;
        let all = self.shared.state.lock().unwrap_or_else(|p| p.into_inner()).slots.clone();
        // Nobody writes the next round's slot before everyone has read this round's.
        self.barrier()?;
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_rank_fails_the_others_instead_of_hanging_them() {
        let mut groups = LocalGroup::new(2);
        let second = groups.pop().unwrap();
        let first = groups.pop().unwrap();
        let crashed = std::thread::spawn(move || {
            let _g = second;
            panic!("rank 1 fails before its first collective");
        });
        assert!(crashed.join().is_err());
        let e = first.all_gather(b"x").unwrap_err().to_string();
        assert!(e.contains("rank 1: panicked"), "{e}");
    }

    #[test]
    fn rounds_do_not_mix() {
        let out: Vec<Vec<Vec<Vec<u8>>>> = std::thread::scope(|s| {
            let hs: Vec<_> = LocalGroup::new(3)
                .into_iter()
                .map(|g| s.spawn(move || (0..50u8).map(|i| g.all_gather(&[g.rank as u8, i]).unwrap()).collect()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for rank in out {
            for (i, round) in rank.iter().enumerate() {
                assert_eq!(round, &vec![vec![0, i as u8], vec![1, i as u8], vec![2, i as u8]]);
            }
        }
    }
}

