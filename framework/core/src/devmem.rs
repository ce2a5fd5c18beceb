//! Device memory in use while a benchmark runs, sampled from the CUDA driver on a thread of its
//! own (`cuMemGetInfo`, every millisecond or so): the whole device's view — CUDA context,
//! weights, the caching allocator's reserve — which is also what a Python side measures with
//! `torch.cuda.mem_get_info`, so that two implementations compare like for like.

use serde::Serialize;
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

/// The benchmark's own use is `peak_gib - before_gib` when sampling started before its process
/// allocated anything (its CUDA context included).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DeviceMemory {
    /// In use on the device when sampling started (GiB).
    pub before_gib: f64,
    /// The most in use while sampling (GiB).
    pub peak_gib: f64,
    pub total_gib: f64,
}

pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Option<DeviceMemory>>,
}

const GIB: f64 = (1u64 << 30) as f64;

fn used() -> Option<(u64, u64)> {
    // Needs a current context on this thread (`CudaContext::new` binds the primary one).
    let (free, total) = cudarc::driver::result::mem_get_info().ok()?;
    Some((total as u64 - free as u64, total as u64))
}

impl MemorySampler {
    /// Starts sampling CUDA device `ordinal`; `None` without a CUDA driver or device.
    pub fn start(ordinal: usize) -> Option<Self> {
        // Without the NVIDIA driver's device node there is no GPU; asking cudarc would make it
        // panic (caught below, but printed) while looking for libcuda.
        if !std::path::Path::new("/dev/nvidiactl").exists() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            // cudarc panics when it cannot load libcuda; that only means "no GPU here".
            let ctx = std::panic::catch_unwind(|| cudarc::driver::CudaContext::new(ordinal)).ok().and_then(|c| c.ok());
            let first = ctx.as_ref().and_then(|_| used());
            let _ = tx.send(first.is_some());
            let (before, total) = first?;
            let mut peak = before;
            while !flag.load(Ordering::Relaxed) {
                if let Some((u, _)) = used() {
                    peak = peak.max(u);
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            Some(DeviceMemory { before_gib: before as f64 / GIB, peak_gib: peak as f64 / GIB, total_gib: total as f64 / GIB })
        });
        if rx.recv().unwrap_or(false) {
            Some(Self { stop, handle })
        } else {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
            None
        }
    }

    /// Stops sampling and returns what it saw.
    pub fn finish(self) -> Option<DeviceMemory> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_where_there_is_a_gpu_and_says_none_where_there_is_not() {
        let gpu = std::path::Path::new("/dev/nvidiactl").exists();
        match (gpu, MemorySampler::start(0)) {
            (false, None) => {}
            (true, Some(s)) => {
                let m = s.finish().expect("sampled");
                assert!(m.peak_gib >= m.before_gib && m.total_gib > 0.0, "{m:?}");
            }
            (gpu, s) => panic!("driver device node present: {gpu}, sampler started: {}", s.is_some()),
        }
    }
}
