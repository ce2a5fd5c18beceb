//! Data-parallel training through `set_communicator`, with two ranks as threads of this process
//! and an in-memory communicator: 2 ranks × batch 1 end with the weights (or adapters) of
//! 1 process × batch 2 (targets of equal length, so the mean loss of the pair is the mean of the
//! two), although rank 1 starts from other weights and optimizer state.

mod common;

use common::*;
use lmmrotate_abi::{
    abi_stable::std_types::{RResult, RString},
    Buffer, CommBox, Communicator, DType, ErrorKind, ModelPlugin, PluginError,
};
use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Barrier, Mutex},
};

/// Host-memory collectives among threads: each rank posts its bytes, all wait, each combines.
struct Threads {
    rank: u32,
    world: u32,
    slots: Arc<(Mutex<Vec<Vec<u8>>>, Barrier)>,
}

impl Threads {
    fn group(world: u32) -> Vec<CommBox> {
        let slots = Arc::new((Mutex::new(vec![Vec::new(); world as usize]), Barrier::new(world as usize)));
        (0..world).map(|rank| CommBox::new(Threads { rank, world, slots: slots.clone() })).collect()
    }

    /// Every rank's bytes of `b`, in rank order.
    fn gather(&self, b: &Buffer) -> Vec<Vec<u8>> {
        assert!(b.is_host(), "host buffers only");
        let len = b.count as usize * b.dtype.size();
        // SAFETY: the Communicator contract: `count` elements at `ptr`, alive during the call.
        let mine = unsafe { std::slice::from_raw_parts(b.ptr as *const u8, len) }.to_vec();
        self.slots.0.lock().unwrap()[self.rank as usize] = mine;
        self.slots.1.wait();
        let all = self.slots.0.lock().unwrap().clone();
        self.slots.1.wait();
        all
    }

    fn write(b: &Buffer, bytes: &[u8]) {
        // SAFETY: as in `gather`; nobody else reads this buffer during the call.
        unsafe { std::slice::from_raw_parts_mut(b.ptr as *mut u8, bytes.len()) }.copy_from_slice(bytes);
    }
}

impl Communicator for Threads {
    fn rank(&self) -> u32 {
        self.rank
    }
    fn world_size(&self) -> u32 {
        self.world
    }
    fn all_reduce_sum(&self, b: Buffer) -> RResult<(), PluginError> {
        let all = self.gather(&b);
        let sum: Vec<u8> = match b.dtype {
            DType::F32 => {
                let mut acc = vec![0f32; b.count as usize];
                for part in &all {
                    for (a, c) in acc.iter_mut().zip(part.chunks_exact(4)) {
                        *a += f32::from_le_bytes(c.try_into().unwrap());
                    }
                }
                acc.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
            DType::F64 => {
                let mut acc = vec![0f64; b.count as usize];
                for part in &all {
                    for (a, c) in acc.iter_mut().zip(part.chunks_exact(8)) {
                        *a += f64::from_le_bytes(c.try_into().unwrap());
                    }
                }
                acc.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
            d => return RResult::RErr(PluginError::new(ErrorKind::UNSUPPORTED, RString::from(format!("{d:?}")))),
        };
        Self::write(&b, &sum);
        RResult::ROk(())
    }
    fn broadcast(&self, b: Buffer, root: u32) -> RResult<(), PluginError> {
        let all = self.gather(&b);
        Self::write(&b, &all[root as usize]);
        RResult::ROk(())
    }
}

/// The saved weights and adapters of a plugin after training, by file and name.
fn saved(p: &mut lmmrotate_model_paligemma_candle::plugin::PaliGemmaPlugin, dir: &Path) -> BTreeMap<String, Vec<f32>> {
    p.save(dir.to_str().unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for f in ["model.safetensors", "adapter_model.safetensors"] {
        if dir.join(f).is_file() {
            out.extend(tensors(&dir.join(f)).into_iter().map(|(k, v)| (format!("{f}:{k}"), v)));
        }
    }
    out
}

const STEPS: usize = 3;
const LR: f64 = 1e-3;
/// A large epsilon keeps AdamW from turning rounding noise in near-zero gradients (whose sign
/// differs between a sum over ranks and a sum over a batch) into full-size steps of ±lr.
const OPTIONS: &str = r#"{"eps": 1e-2}"#;

fn two_ranks_match_one_process(extra: serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let start = saved(&mut plugin_with(&golden().join("native"), extra.clone()), &tmp.path().join("start"));

    let mut single = plugin_with(&golden().join("native"), extra.clone());
    single.configure_training(OPTIONS).unwrap();
    let mut single_loss = Vec::new();
    for _ in 0..STEPS {
        single_loss.push(single.train_step(&batch(), step(LR)).unwrap().loss);
    }
    let single = saved(&mut single, &tmp.path().join("single"));

    // Per rank: what it saved, and its losses.
    type Rank = (BTreeMap<String, Vec<f32>>, Vec<f64>);
    let results: Vec<Rank> = std::thread::scope(|s| {
        let handles: Vec<_> = Threads::group(2)
            .into_iter()
            .enumerate()
            .map(|(rank, comm)| {
                let (extra, dir) = (extra.clone(), tmp.path().join(format!("rank{rank}")));
                s.spawn(move || {
                    let mut p = plugin_with(&golden().join("native"), extra);
                    p.configure_training(OPTIONS).unwrap();
                    if rank == 1 {
                        // Rank 1 drifts away first; joining must give it rank 0's state.
                        p.train_step(&row(0), step(1e-2)).unwrap();
                    }
                    p.set_communicator(comm).unwrap();
                    let losses: Vec<f64> = (0..STEPS).map(|_| p.train_step(&row(rank), step(LR)).unwrap().loss).collect();
                    (saved(&mut p, &dir), losses)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let moved = max_diff(&start, &single);
    assert!(moved > 1e-4, "training moved the weights ({moved})");
    for (rank, (w, _)) in results.iter().enumerate() {
        let d = max_diff(&single, w);
        eprintln!("rank {rank}: largest difference {d:e}, largest change {moved:e}");
        assert!(d < 1e-5, "rank {rank} differs from the single process by {d} (training moved them by {moved})");
    }
    // Each rank's loss is its own row's; their mean is the single process's batch loss.
    for (i, single) in single_loss.iter().enumerate() {
        let mean = (results[0].1[i] + results[1].1[i]) / 2.0;
        assert!((mean - single).abs() < 1e-5, "step {i}: {mean} vs {single}");
    }
}

#[test]
fn full_fine_tuning_on_two_ranks_equals_one_process_with_the_combined_batch() {
    two_ranks_match_one_process(serde_json::json!({}));
}

#[test]
fn lora_on_two_ranks_equals_one_process_with_the_combined_batch() {
    two_ranks_match_one_process(serde_json::json!({"lora": {"rank": 4, "alpha": 8.0}}));
}
