//! Counts of what a decoder threw away, by reason, in the order the reasons first occurred.

use lmmrotate_abi::abi_stable::std_types::{RString, RVec};
use lmmrotate_abi::DropCount;

/// Reasons are static strings that name their unit (all florence2 reasons count `<loc_k>` values).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Drops(Vec<(&'static str, u64)>);

impl Drops {
    pub fn add(&mut self, reason: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        match self.0.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n as u64,
            None => self.0.push((reason, n as u64)),
        }
    }

    pub fn merge(&mut self, other: &Drops) {
        for (r, n) in &other.0 {
            self.add(r, *n as usize);
        }
    }

    pub fn get(&self, reason: &str) -> u64 {
        self.0.iter().find(|(r, _)| *r == reason).map_or(0, |(_, c)| *c)
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, c)| c).sum()
    }

    /// The ABI form; counts saturate at `u32::MAX`.
    pub fn to_abi(&self) -> RVec<DropCount> {
        self.0
            .iter()
            .map(|(r, c)| DropCount { reason: RString::from(*r), count: (*c).min(u32::MAX as u64) as u32 })
            .collect()
    }
}
