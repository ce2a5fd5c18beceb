//! `lmmrotate train`: fine-tune a model plugin on dataset plugins (encoded by a response format)
//! or on upstream SFT JSON files. Upstream's option names are accepted as written in LMMRotate's
//! scripts (`--num_train_epochs`, ...), and in hyphen form.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Result};
use lmmrotate_core::{
    data::{self, DatasetMode},
    train::{self, schedule::Schedule, TrainConfig},
};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Response format the model learns to emit.
    #[arg(long, default_value = "v2")]
    format: String,
    /// Dataset plugin(s) to train on (with --dataset-root and --split).
    #[arg(long, num_args = 1..)]
    dataset: Vec<String>,
    /// Root folder of each --dataset (same order), overriding the registry's `root`.
    #[arg(long = "dataset-root", num_args = 1..)]
    dataset_root: Vec<PathBuf>,
    /// Split of the dataset plugins [default: the plugin's, e.g. trainval for DOTA].
    #[arg(long)]
    split: Option<String>,
    /// Upstream SFT JSON file(s) ({file_name, response} records).
    #[arg(long = "data_path", alias = "data-path", num_args = 1..)]
    data_path: Vec<PathBuf>,
    /// Image folder of each --data_path (same order).
    #[arg(long = "image_folder", alias = "image-folder", num_args = 1..)]
    image_folder: Vec<PathBuf>,
    /// How several training sets combine: single, concat, balanced (upstream's "balanced concat").
    #[arg(long = "dataset_mode", alias = "dataset-mode", default_value = "single")]
    dataset_mode: DatasetMode,
    /// Where checkpoints, logs and the final model go.
    #[arg(long = "output_dir", alias = "output-dir", default_value = "runs/train")]
    output_dir: PathBuf,
    #[arg(long = "num_train_epochs", alias = "num-train-epochs", default_value_t = 100.0)]
    num_train_epochs: f64,
    /// Stop after this many optimizer updates (overrides the epochs).
    #[arg(long = "max_steps", alias = "max-steps")]
    max_steps: Option<u64>,
    #[arg(long = "per_device_train_batch_size", alias = "per-device-train-batch-size", alias = "batch-size", default_value_t = 2)]
    per_device_train_batch_size: usize,
    #[arg(long = "gradient_accumulation_steps", alias = "gradient-accumulation-steps", default_value_t = 16)]
    gradient_accumulation_steps: usize,
    #[arg(long = "learning_rate", alias = "learning-rate", alias = "lr", default_value_t = 2e-5)]
    learning_rate: f64,
    #[arg(long = "weight_decay", alias = "weight-decay", default_value_t = 0.0)]
    weight_decay: f64,
    #[arg(long = "warmup_ratio", alias = "warmup-ratio", default_value_t = 0.03)]
    warmup_ratio: f64,
    /// cosine, linear or constant.
    #[arg(long = "lr_scheduler_type", alias = "lr-scheduler-type", default_value = "cosine")]
    lr_scheduler_type: Schedule,
    /// Clip the global gradient norm (none by default, as upstream under DeepSpeed).
    #[arg(long = "max_grad_norm", alias = "max-grad-norm")]
    max_grad_norm: Option<f64>,
    #[arg(long = "save_steps", alias = "save-steps", default_value_t = 50_000)]
    save_steps: u64,
    /// Keep only this many checkpoints.
    #[arg(long = "save_total_limit", alias = "save-total-limit")]
    save_total_limit: Option<usize>,
    #[arg(long = "logging_steps", alias = "logging-steps", default_value_t = 1)]
    logging_steps: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Model input size (upstream: 1024 for LMMRotate).
    #[arg(long = "image_square_length", alias = "image-square-length", alias = "image-size")]
    image_square_length: Option<u32>,
    /// Text length; more than the checkpoint's extends the position tables.
    #[arg(long = "language_model_max_length", alias = "language-model-max-length")]
    language_model_max_length: Option<u32>,
    /// Train in bf16 (as --dtype bf16).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = hf_bool, default_value = "false")]
    bf16: bool,
    /// Train in fp16 (as --dtype fp16).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = hf_bool, default_value = "false")]
    fp16: bool,
    #[arg(long = "freeze_vision", alias = "freeze-vision", num_args = 0..=1, default_missing_value = "true", value_parser = hf_bool, default_value = "false")]
    freeze_vision: bool,
    #[arg(
        long = "freeze_multimodal_projection",
        alias = "freeze-multimodal-projection",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = hf_bool,
        default_value = "false"
    )]
    freeze_multimodal_projection: bool,
    #[arg(long = "freeze_language", alias = "freeze-language", num_args = 0..=1, default_missing_value = "true", value_parser = hf_bool, default_value = "false")]
    freeze_language: bool,
    /// Recompute activations in the backward pass instead of keeping them (less memory, one
    /// more forward pass per step).
    #[arg(
        long = "gradient_checkpointing",
        alias = "gradient-checkpointing",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = hf_bool,
        default_value = "false"
    )]
    gradient_checkpointing: bool,
    /// With --bf16: keep fp32 master weights and moments (the default, LMMRotate's mixed
    /// precision); `False` updates the bf16 weights in place with bf16 moments (less than half
    /// the optimizer memory; updates below bf16's resolution are lost).
    #[arg(long = "master_weights", alias = "master-weights", num_args = 0..=1, default_missing_value = "true", value_parser = hf_bool, default_value = "true")]
    master_weights: bool,
    /// Micro-batches decoded ahead of the model.
    #[arg(long, default_value_t = 4)]
    prefetch: usize,
}

/// A switch as upstream's scripts write it: `--flag`, `--flag True`, `--flag false`, `--flag 1`.
fn hf_bool(s: &str) -> std::result::Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not a switch value (True or False)")),
    }
}

/// Train's own model keys; `--dtype` and `--model-config` (applied after) win over them.
fn model_overrides(a: &Args, resume: Option<&Path>) -> Result<serde_json::Value> {
    if a.bf16 && a.fp16 {
        bail!("--bf16 and --fp16 exclude each other");
    }
    let mut o = serde_json::Map::new();
    if let Some(s) = a.image_square_length {
        o.insert("image_size".into(), s.into());
    }
    if let Some(l) = a.language_model_max_length {
        o.insert("max_text_len".into(), l.into());
    }
    if a.bf16 {
        o.insert("dtype".into(), "bf16".into());
    } else if a.fp16 {
        o.insert("dtype".into(), "fp16".into());
    }
    o.insert("seed".into(), a.seed.into());
    a.model.overrides(resume, o)
}

pub fn run(g: &Global, a: &Args) -> Result<Outcome> {
    let plugins = super::open_plugins(g)?;
    let format = plugins.format(&a.format, &serde_json::json!({}))?;
    let prompt = format.prompt()?.task.to_string();

    let mut sets = Vec::new();
    let mut dropped = 0usize;
    if a.data_path.len() != a.image_folder.len() {
        bail!("--data_path and --image_folder need the same number of entries ({} vs {})", a.data_path.len(), a.image_folder.len());
    }
    for (json, folder) in a.data_path.iter().zip(&a.image_folder) {
        sets.push(data::read_sft_json(json, folder)?);
    }
    for (i, name) in a.dataset.iter().enumerate() {
        let mut cfg = serde_json::json!({});
        if let Some(split) = &a.split {
            cfg["split"] = split.clone().into();
        }
        if let Some(root) = a.dataset_root.get(i) {
            cfg["root"] = root.display().to_string().into();
        }
        let ds = plugins.dataset(name, &cfg)?;
        let classes = ds.classes()?;
        let enc = data::encode_dataset(&ds, &format, &classes)?;
        for p in ds.problems()? {
            tracing::warn!("{name}: {p}");
        }
        tracing::info!("{name}: {} samples ({} images without objects dropped by format {})", enc.samples.len(), enc.dropped_images, a.format);
        dropped += enc.dropped_images;
        sets.push(enc.samples);
    }
    if sets.is_empty() {
        bail!("nothing to train on: give --dataset NAME or --data_path FILE --image_folder DIR");
    }
    let set_sizes: Vec<usize> = sets.iter().map(Vec::len).collect();
    let samples: Vec<_> = sets.into_iter().flatten().collect();

    let mut freeze = Vec::new();
    for (on, part) in [(a.freeze_vision, "vision"), (a.freeze_multimodal_projection, "projection"), (a.freeze_language, "language")] {
        if on {
            freeze.push(part);
        }
    }
    let mut model_options = serde_json::json!({"weight_decay": a.weight_decay, "freeze": freeze});
    if a.gradient_checkpointing {
        model_options["gradient_checkpointing"] = true.into();
    }
    if !a.master_weights {
        model_options["master_weights"] = false.into();
    }
    if let Some(m) = a.max_grad_norm {
        model_options["max_grad_norm"] = m.into();
    }
    let cfg = TrainConfig {
        output_dir: a.output_dir.clone(),
        epochs: a.num_train_epochs,
        max_steps: a.max_steps,
        batch_size: a.per_device_train_batch_size,
        grad_accum: a.gradient_accumulation_steps,
        lr: a.learning_rate,
        warmup_ratio: a.warmup_ratio,
        schedule: a.lr_scheduler_type,
        save_steps: a.save_steps,
        save_total_limit: a.save_total_limit,
        logging_steps: a.logging_steps,
        seed: a.seed,
        prefetch: a.prefetch,
        model_options,
        prompt,
        mode: a.dataset_mode,
        set_sizes,
    };
    let group = super::join_group()?;
    let (rank, world) = group.as_ref().map_or((0, 1), |g| (g.rank(), g.world_size() as usize));
    let epoch_len = train::epoch_samples(&cfg, samples.len(), 0)?.len();
    let (_, per_epoch, total) = train::plan(epoch_len.div_ceil(world), &cfg);
    let say = |line: String| {
        if rank == 0 {
            println!("{line}");
        }
    };
    say(format!(
        "training {} on {} samples: {per_epoch} updates per epoch, {total} in all (batch {} x accumulation {} x {world} rank(s))",
        a.model.model,
        samples.len(),
        cfg.batch_size,
        cfg.grad_accum
    ));
    let open = |ckpt: Option<&Path>| -> lmmrotate_core::Result<lmmrotate_core::Model> {
        let o = model_overrides(a, ckpt).map_err(|e| lmmrotate_core::CoreError::Invalid(format!("{e:#}")))?;
        plugins.model(&a.model.model, &o)
    };
    let summary = train::train(&open, &samples, &cfg, plugins.host(), group.as_ref())?;
    if let Some(from) = summary.resumed_from {
        say(format!("resumed from update {from}"));
    }
    say(format!(
        "done: {} updates, final loss {}, {:.2} samples/s, {:.1} s waiting for images",
        summary.global_step,
        summary.final_loss.map_or("-".into(), |l| format!("{l:.4}")),
        summary.samples_per_second,
        summary.data_wait_seconds
    ));
    say(format!("model: {}  log: {}", a.output_dir.display(), a.output_dir.join("log.csv").display()));
    if dropped > 0 {
        say(format!("{dropped} image(s) without objects were not trained on (format {} drops them, as upstream)", a.format));
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> std::result::Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("train").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn switches_take_upstream_spellings() {
        let a = parse(&["--gradient_checkpointing", "True", "--bf16", "--freeze_vision", "false"]).unwrap();
        assert!(a.gradient_checkpointing && a.bf16 && !a.freeze_vision && !a.fp16);
        let a = parse(&["--gradient-checkpointing", "--fp16", "1"]).unwrap();
        assert!(a.gradient_checkpointing && a.fp16);
        let a = parse(&[]).unwrap();
        assert!(!a.gradient_checkpointing && !a.bf16 && a.master_weights);
        assert!(!parse(&["--master_weights", "False"]).unwrap().master_weights);
        let e = parse(&["--gradient_checkpointing", "maybe"]).err().unwrap().to_string();
        assert!(e.contains("`maybe` is not a switch value"), "{e}");
        let both = parse(&["--bf16", "True", "--fp16", "True"]).unwrap();
        assert!(model_overrides(&both, None).unwrap_err().to_string().contains("--bf16 and --fp16 exclude each other"));
    }
}
