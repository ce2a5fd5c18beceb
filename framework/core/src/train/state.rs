//! Checkpoint folders of a training run: written atomically (a temporary folder renamed into
//! place), found again on resume, and pruned.
//!
//! `output_dir/checkpoint-<step>/` holds the model plugin's files (weights, config, tokenizer,
//! optimizer state) and `trainer_state.json` (the position in the data and the schedule). A
//! folder without `trainer_state.json` is incomplete and never used.

use crate::error::{CoreError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "trainer_state.json";

/// Where training stands after an update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer updates done.
    pub global_step: u64,
    pub total_steps: u64,
    /// Epoch of the next micro-batch, and its index in that epoch's order.
    pub epoch: u64,
    pub next_micro_batch: u64,
    pub seed: u64,
    /// Last logged loss.
    pub loss: Option<f64>,
}

/// Writes `output_dir/checkpoint-<step>` through `write(tmp_dir)`; the folder appears only
/// complete. A failure leaves every earlier checkpoint as it was and removes the partial one.
pub fn save_atomically(
    output_dir: &Path,
    state: &TrainerState,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let name = format!("checkpoint-{}", state.global_step);
    let tmp = output_dir.join(format!(".tmp-{name}"));
    let dest = output_dir.join(&name);
    let result = (|| {
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| CoreError::io(&tmp, e))?;
        write(&tmp)?;
        let text = serde_json::to_string_pretty(state).expect("state serialises");
        let file = tmp.join(STATE_FILE);
        std::fs::write(&file, text).map_err(|e| CoreError::io(&file, e))?;
        if dest.exists() {
            std::fs::remove_dir_all(&dest).map_err(|e| CoreError::io(&dest, e))?;
        }
        std::fs::rename(&tmp, &dest).map_err(|e| CoreError::io(&dest, e))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(dest)
}

/// Complete checkpoints in `output_dir`, oldest first.
pub fn checkpoints(output_dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(output_dir) else { return Vec::new() };
    let mut v: Vec<(u64, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step: u64 = name.strip_prefix("checkpoint-")?.parse().ok()?;
            let p = e.path();
            p.join(STATE_FILE).is_file().then_some((step, p))
        })
        .collect();
    v.sort();
    v
}

/// The newest complete checkpoint and its state.
pub fn latest(output_dir: &Path) -> Result<Option<(PathBuf, TrainerState)>> {
    let Some((_, dir)) = checkpoints(output_dir).pop() else { return Ok(None) };
    let file = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| CoreError::io(&file, e))?;
    let state = serde_json::from_str(&text)
        .map_err(|e| CoreError::Invalid(format!("{}: line {}: {e}", file.display(), e.line())))?;
    Ok(Some((dir, state)))
}

/// Removes all but the newest `keep` checkpoints.
pub fn prune(output_dir: &Path, keep: usize) -> Result<()> {
    let all = checkpoints(output_dir);
    for (_, dir) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(step: u64) -> TrainerState {
        TrainerState { global_step: step, total_steps: 10, epoch: 0, next_micro_batch: step, seed: 1, loss: None }
    }

    #[test]
    fn a_failed_save_keeps_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let good = save_atomically(dir.path(), &state(1), |d| {
            std::fs::write(d.join("model.safetensors"), b"weights-1").map_err(|e| CoreError::io(d, e))
        })
        .unwrap();
        // Disk full in the middle of the next save: part written, then an error.
        let e = save_atomically(dir.path(), &state(2), |d| {
            std::fs::write(d.join("model.safetensors"), b"wei").unwrap();
            Err(CoreError::Invalid("No space left on device".into()))
        })
        .unwrap_err();
        assert!(e.to_string().contains("No space left"));
        assert!(!dir.path().join("checkpoint-2").exists() && !dir.path().join(".tmp-checkpoint-2").exists());
        assert_eq!(std::fs::read(good.join("model.safetensors")).unwrap(), b"weights-1");
        let (p, s) = latest(dir.path()).unwrap().unwrap();
        assert_eq!((p, s.global_step), (good, 1));
    }

    #[test]
    fn incomplete_folders_are_ignored_and_pruning_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        for s in [1, 2, 3] {
            save_atomically(dir.path(), &state(s), |_| Ok(())).unwrap();
        }
        std::fs::create_dir(dir.path().join("checkpoint-9")).unwrap(); // killed mid-save, no state
        assert_eq!(latest(dir.path()).unwrap().unwrap().1.global_step, 3);
        prune(dir.path(), 2).unwrap();
        let left: Vec<u64> = checkpoints(dir.path()).into_iter().map(|(s, _)| s).collect();
        assert_eq!(left, vec![2, 3]);
    }
}
