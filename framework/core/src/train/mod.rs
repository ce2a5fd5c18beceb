//! The training driver: a model plugin fed from encoded samples, with LMMRotate's recipe as the
//! defaults, images decoded ahead of the model on worker threads, atomic checkpoints, resume with
//! the same data order, and logs (CSV, TensorBoard, a loss-curve PNG).

pub mod plot;
pub mod schedule;
pub mod state;
pub mod tensorboard;

use crate::{
    error::{CoreError, Result},
    host::{cancel_requested, TerminalHost},
    images,
    plugins::Model,
};
use lmmrotate_abi::{abi_stable::std_types::RString, ImageSpec, RgbImage, StepControl, TrainBatch};
use lmmrotate_datatools::{epoch_indices, DatasetMode};
use lmmrotate_dist::ProcessGroup;
use rayon::prelude::*;
use schedule::Schedule;
use state::TrainerState;
use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};

/// One training example: an image and the target text its format encodes it to.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSample {
    pub image: PathBuf,
    pub target: String,
}

/// Options of a run; defaults are LMMRotate's recipe (upstream.md §5).
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub output_dir: PathBuf,
    pub epochs: f64,
    /// Stop after this many updates (overrides `epochs`).
    pub max_steps: Option<u64>,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub lr: f64,
    pub warmup_ratio: f64,
    pub schedule: Schedule,
    pub save_steps: u64,
    pub save_total_limit: Option<usize>,
    pub logging_steps: u64,
    pub seed: u64,
    /// Micro-batches decoded ahead of the model.
    pub prefetch: usize,
    /// Model-specific training options (`configure_training`).
    pub model_options: serde_json::Value,
    /// The task prompt every sample is given.
    pub prompt: String,
    /// How the training sets combine, and their sizes (the samples are their concatenation).
    pub mode: DatasetMode,
    pub set_sizes: Vec<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            output_dir: PathBuf::from("runs/train"),
            epochs: 100.0,
            max_steps: None,
            batch_size: 2,
            grad_accum: 16,
            lr: 2e-5,
            warmup_ratio: 0.03,
            schedule: Schedule::Cosine,
            save_steps: 50_000,
            save_total_limit: None,
            logging_steps: 1,
            seed: 42,
            prefetch: 4,
            model_options: serde_json::json!({}),
            prompt: "<ROD>".into(),
            mode: DatasetMode::Single,
            set_sizes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    pub global_step: u64,
    pub final_loss: Option<f64>,
    pub last_checkpoint: Option<PathBuf>,
    pub resumed_from: Option<u64>,
    /// Seconds the model waited for decoded images.
    pub data_wait_seconds: f64,
    pub samples_per_second: f64,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A Fisher–Yates permutation of `0..n` seeded by (seed, epoch): the same for a resumed run.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut s = seed ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (splitmix(&mut s) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// The samples of `epoch` in training order: the dataset mode's list (balanced concat re-draws
/// it from the epoch number, as upstream), shuffled as the epoch's sampler does.
pub fn epoch_samples(cfg: &TrainConfig, n: usize, epoch: u64) -> Result<Vec<usize>> {
    let sizes = if cfg.set_sizes.is_empty() { vec![n] } else { cfg.set_sizes.clone() };
    let base = epoch_indices(cfg.mode, &sizes, epoch).map_err(|e| CoreError::Invalid(e.to_string()))?;
    Ok(epoch_order(base.len(), cfg.seed, epoch).into_iter().map(|i| base[i]).collect())
}

/// The part of an epoch's sample list that `rank` of `world` trains on, as torch's
/// DistributedSampler deals it: the list padded to a multiple of `world` by repeating its start,
/// then every `world`-th sample from position `rank`.
pub fn rank_share(order: &[usize], rank: usize, world: usize) -> Vec<usize> {
    if world <= 1 || order.is_empty() {
        return order.to_vec();
    }
    let total = order.len().div_ceil(world) * world;
    (rank..total).step_by(world).map(|i| order[i % order.len()]).collect()
}

/// Updates per epoch and in all for `n` samples per rank: micro-batches = ceil(n / batch); an
/// update every `accum` micro-batches and at the end of an epoch.
pub fn plan(n: usize, cfg: &TrainConfig) -> (u64, u64, u64) {
    let micro = n.div_ceil(cfg.batch_size.max(1)) as u64;
    let per_epoch = micro.div_ceil(cfg.grad_accum.max(1) as u64).max(1);
    let total = cfg.max_steps.unwrap_or_else(|| (cfg.epochs * per_epoch as f64).ceil() as u64).max(1);
    (micro, per_epoch, total)
}

struct Loaded {
    images: Vec<RgbImage>,
    targets: Vec<String>,
}

/// Opens the model (from `checkpoint` when resuming) and trains it. `open` builds the model
/// handle for a checkpoint folder, or from the registry config when `None`.
///
/// With a process `group` (a launched run, of any size), this process is one data-parallel rank:
/// it trains on its share of each epoch, the model averages gradients through the group, the
/// logged loss is the mean over ranks, and only rank 0 logs and saves. Every rank resumes from
/// the latest checkpoint in `output_dir` (a folder all ranks see).
pub fn train(
    open: &dyn Fn(Option<&Path>) -> Result<Model>,
    samples: &[TrainSample],
    cfg: &TrainConfig,
    host: &TerminalHost,
    group: Option<&Arc<ProcessGroup>>,
) -> Result<TrainSummary> {
    if samples.is_empty() {
        return Err(CoreError::Invalid("no training samples (every image was dropped or the dataset is empty)".into()));
    }
    let single = ProcessGroup::single();
    let pg = group.unwrap_or(&single);
    let (rank, world) = (pg.rank() as usize, pg.world_size() as usize);
    let main = rank == 0;
    std::fs::create_dir_all(&cfg.output_dir).map_err(|e| CoreError::io(&cfg.output_dir, e))?;
    // Every epoch has as many samples as the first (balanced concat keeps N per epoch).
    let epoch_len = epoch_samples(cfg, samples.len(), 0)?.len();
    let (micro_per_epoch, _, total) = plan(epoch_len.div_ceil(world), cfg);
    let warmup = schedule::warmup_steps(cfg.warmup_ratio, total);

    let resume = state::latest(&cfg.output_dir)?;
    let mut model = open(resume.as_ref().map(|(p, _)| p.as_path()))?;
    model.configure_training(&cfg.model_options)?;
    let mut st = match &resume {
        Some((dir, s)) => {
            model.load_training_state(dir)?;
            if s.total_steps != total {
                tracing::warn!("resuming with {total} total updates (the checkpoint planned {})", s.total_steps);
            }
            tracing::info!("resuming from {} (update {}, epoch {}, micro-batch {})", dir.display(), s.global_step, s.epoch, s.next_micro_batch);
            TrainerState { total_steps: total, ..s.clone() }
        }
        None => TrainerState { global_step: 0, total_steps: total, epoch: 0, next_micro_batch: 0, seed: cfg.seed, loss: None },
    };
    let resumed_from = resume.as_ref().map(|(_, s)| s.global_step);
    if let Some(g) = group {
        model.set_communicator(g.communicator())?;
    }
    model.set_training(true)?;
    let spec = model.info()?.image;

    let mut log = if main { Some(Logs::open(cfg, resume.is_some().then_some(st.global_step))?) } else { None };
    let bar = if main { host.bar("train", total) } else { indicatif::ProgressBar::hidden() };
    bar.set_position(st.global_step);
    let mut last_checkpoint = resume.as_ref().map(|(p, _)| p.clone());
    let started = Instant::now();
    let mut trained_samples = 0u64;
    let mut wait_total = Duration::ZERO;
    let (tx, rx) = mpsc::sync_channel::<Result<(u64, u64, Loaded)>>(cfg.prefetch.max(1));
    let start = (st.epoch, st.next_micro_batch);
    let batch = cfg.batch_size.max(1);
    let seed = st.seed;

    std::thread::scope(|scope| -> Result<TrainSummary> {
        // Producer: decodes micro-batches in order from the resume position, in parallel within
        // each micro-batch; the bounded channel keeps it `prefetch` micro-batches ahead.
        scope.spawn(move || {
            let (mut epoch, mut m) = start;
            loop {
                let order = match epoch_samples(&cfg_seeded(cfg, seed), samples.len(), epoch) {
                    Ok(o) => rank_share(&o, rank, world),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                while m < micro_per_epoch {
                    let idx = &order[(m as usize * batch)..((m as usize + 1) * batch).min(order.len())];
                    let loaded = load_micro(samples, idx, &spec);
                    if tx.send(loaded.map(|l| (epoch, m, l))).is_err() {
                        return;
                    }
                    m += 1;
                }
                epoch += 1;
                m = 0;
            }
        });

        let mut stop = false;
        while st.global_step < total {
            if stop {
                tracing::warn!("stopping on request after update {}", st.global_step);
                break;
            }
            let lr = cfg.lr * schedule::factor(cfg.schedule, st.global_step, warmup, total);
            let mut losses = Vec::new();
            let (mut grad_norm, mut truncated, mut skipped) = (None, 0u32, false);
            for a in 0..cfg.grad_accum.max(1) {
                let t0 = Instant::now();
                let (epoch, m, loaded) = rx.recv().map_err(|_| CoreError::Invalid("image loader stopped".into()))??;
                wait_total += t0.elapsed();
                let last_of_epoch = m + 1 == micro_per_epoch;
                let apply = a + 1 == cfg.grad_accum.max(1) || last_of_epoch;
                let n = loaded.images.len();
                let tb_batch = TrainBatch {
                    images: loaded.images.into(),
                    prompts: vec![RString::from(cfg.prompt.as_str()); n].into(),
                    targets: loaded.targets.iter().map(|t| RString::from(t.as_str())).collect(),
                };
                let control = StepControl { lr, loss_weight: 1.0 / cfg.grad_accum.max(1) as f32, apply_update: apply };
                let stats = model.train_step(&tb_batch, control).map_err(|e| {
                    CoreError::Invalid(format!(
                        "training stopped at update {} (last good checkpoint: {}): {e}",
                        st.global_step + 1,
                        last_checkpoint.as_ref().map_or("none".into(), |p| p.display().to_string())
                    ))
                })?;
                losses.push(stats.loss);
                truncated += stats.truncated;
                trained_samples += n as u64;
                (st.epoch, st.next_micro_batch) = if last_of_epoch { (epoch + 1, 0) } else { (epoch, m + 1) };
                if apply {
                    grad_norm = stats.grad_norm.into_option();
                    skipped = stats.skipped;
                    break;
                }
            }
            st.global_step += 1;
            // The step as all ranks saw it: mean loss, truncations, samples, and whether any
            // rank was asked to stop (so that all stop after the same update).
            let mut sums = [losses.iter().sum::<f64>() / losses.len() as f64, truncated as f64, trained_samples as f64, cancel_requested() as u8 as f64];
            pg.all_reduce_f64(&mut sums).map_err(|e| CoreError::Invalid(format!("update {}: {e}", st.global_step)))?;
            let [loss_sum, truncated, samples_all, stops] = sums;
            let loss = loss_sum / world as f64;
            stop = stops > 0.0;
            st.loss = Some(loss);
            bar.inc(1);
            bar.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
            let sps = samples_all / started.elapsed().as_secs_f64().max(1e-9);
            if let Some(log) = log.as_mut().filter(|_| st.global_step % cfg.logging_steps.max(1) == 0 || st.global_step == total) {
                let row = LogRow { step: st.global_step, epoch: st.epoch, loss, lr, grad_norm, sps, wait: wait_total.as_secs_f64(), truncated: truncated as u64, skipped };
                log.write(&row)?;
            }
            // A stop request saves where it is, so that nothing trained is lost.
            if main && (st.global_step % cfg.save_steps.max(1) == 0 || st.global_step == total || stop) {
                let dir = state::save_atomically(&cfg.output_dir, &st, |d| model.save(d))?;
                if let Some(keep) = cfg.save_total_limit {
                    state::prune(&cfg.output_dir, keep)?;
                }
                tracing::info!("saved {}", dir.display());
                last_checkpoint = Some(dir);
            }
        }
        drop(rx);
        bar.finish_and_clear();
        if st.global_step == total && main {
            // The final model also goes to the output folder itself, as HF's save_model does.
            model.save(&cfg.output_dir)?;
            let _ = plot::loss_curve(&cfg.output_dir.join("log.csv"), &cfg.output_dir.join("loss.png"));
        }
        // Nobody reports success before rank 0 has written the model.
        pg.barrier().map_err(|e| CoreError::Invalid(format!("after training: {e}")))?;
        Ok(TrainSummary {
            global_step: st.global_step,
            final_loss: st.loss,
            last_checkpoint,
            resumed_from,
            data_wait_seconds: wait_total.as_secs_f64(),
            samples_per_second: trained_samples as f64 * world as f64 / started.elapsed().as_secs_f64().max(1e-9),
        })
    })
}

/// One row of the training log.
struct LogRow {
    step: u64,
    epoch: u64,
    loss: f64,
    lr: f64,
    grad_norm: Option<f64>,
    sps: f64,
    wait: f64,
    truncated: u64,
    /// fp16 loss scaling skipped this update (non-finite gradients).
    skipped: bool,
}

/// `log.csv` and the TensorBoard events: rank 0's.
struct Logs {
    csv_path: PathBuf,
    csv: std::fs::File,
    tb: tensorboard::EventWriter,
}

const LOG_HEADER: &str = "step,epoch,loss,lr,grad_norm,samples_per_s,data_wait_s,truncated,skipped";

impl Logs {
    /// Opens the logs of `cfg.output_dir`, dropping rows after `resumed_at`.
    fn open(cfg: &TrainConfig, resumed_at: Option<u64>) -> Result<Self> {
        let csv_path = cfg.output_dir.join("log.csv");
        if let Some(step) = resumed_at {
            truncate_log(&csv_path, step)?;
        }
        let new_csv = !csv_path.exists();
        let mut csv = std::fs::OpenOptions::new().create(true).append(true).open(&csv_path).map_err(|e| CoreError::io(&csv_path, e))?;
        if new_csv {
            writeln!(csv, "{LOG_HEADER}").map_err(|e| CoreError::io(&csv_path, e))?;
        }
        let tb = tensorboard::EventWriter::create(&cfg.output_dir.join("runs")).map_err(|e| CoreError::io(&cfg.output_dir, e))?;
        Ok(Self { csv_path, csv, tb })
    }

    fn write(&mut self, r: &LogRow) -> Result<()> {
        let gn = r.grad_norm.map_or(String::new(), |g| format!("{g:.6}"));
        writeln!(
            self.csv,
            "{},{},{:.6},{:.6e},{gn},{:.3},{:.3},{},{}",
            r.step, r.epoch, r.loss, r.lr, r.sps, r.wait, r.truncated, r.skipped as u8
        )
        .map_err(|e| CoreError::io(&self.csv_path, e))?;
        let _ = self.tb.scalar("train/loss", r.step, r.loss);
        let _ = self.tb.scalar("train/learning_rate", r.step, r.lr);
        if let Some(g) = r.grad_norm {
            let _ = self.tb.scalar("train/grad_norm", r.step, g);
        }
        let _ = self.tb.flush();
        Ok(())
    }
}

/// Drops log rows after `step` (written after the checkpoint a resumed run restarts from).
fn truncate_log(csv: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(csv) else { return Ok(()) };
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || l.split(',').next().and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s <= step))
        .map(|(_, l)| l)
        .collect();
    std::fs::write(csv, kept.join("\n") + "\n").map_err(|e| CoreError::io(csv, e))
}

/// The config with the run's seed (a resumed run keeps the seed it started with).
fn cfg_seeded(cfg: &TrainConfig, seed: u64) -> TrainConfig {
    TrainConfig { seed, ..cfg.clone() }
}

fn load_micro(samples: &[TrainSample], idx: &[usize], spec: &ImageSpec) -> Result<Loaded> {
    let images = idx
        .par_iter()
        .map(|&i| images::open_rgb(&samples[i].image).map(|img| images::to_model_input(&img, spec)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Loaded { images, targets: idx.iter().map(|&i| samples[i].target.clone()).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_orders_are_permutations_that_differ_by_epoch_and_repeat_by_seed() {
        let a = epoch_order(50, 42, 0);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, epoch_order(50, 42, 1));
        assert_eq!(a, epoch_order(50, 42, 0));
        assert_ne!(a, epoch_order(50, 43, 0));
    }

    #[test]
    fn balanced_epochs_redraw_and_cover_every_set() {
        let cfg = TrainConfig { mode: DatasetMode::Balanced, set_sizes: vec![2, 10], ..Default::default() };
        let e0 = epoch_samples(&cfg, 12, 0).unwrap();
        assert_eq!(e0.len(), 12);
        // M = 6 per set: the 2-sample set is repeated 3 times, so 6 of 12 come from it.
        assert_eq!(e0.iter().filter(|&&i| i < 2).count(), 6);
        assert_ne!(e0, epoch_samples(&cfg, 12, 1).unwrap());
        let single = TrainConfig::default();
        let mut s = epoch_samples(&single, 5, 3).unwrap();
        s.sort();
        assert_eq!(s, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn ranks_share_an_epoch_as_torchs_distributed_sampler() {
        let order = vec![10, 11, 12, 13, 14];
        // Padded to 6 with the first sample; rank r takes positions r, r + 2, r + 4.
        assert_eq!(rank_share(&order, 0, 2), vec![10, 12, 14]);
        assert_eq!(rank_share(&order, 1, 2), vec![11, 13, 10]);
        assert_eq!(rank_share(&order, 0, 1), order);
        let mut all: Vec<usize> = (0..3).flat_map(|r| rank_share(&order, r, 3)).collect();
        all.sort();
        assert_eq!(all, vec![10, 10, 11, 12, 13, 14]);
    }

    #[test]
    fn plan_counts_updates_like_upstream() {
        let cfg = TrainConfig { batch_size: 2, grad_accum: 4, epochs: 3.0, ..Default::default() };
        // 21 samples → 11 micro-batches → 3 updates per epoch (the last one short) → 9.
        assert_eq!(plan(21, &cfg), (11, 3, 9));
        let capped = TrainConfig { max_steps: Some(5), ..cfg };
        assert_eq!(plan(21, &capped).2, 5);
    }
}
