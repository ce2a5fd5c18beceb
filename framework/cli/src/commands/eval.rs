//! `lmmrotate eval`: generate over a dataset split (resumable), decode with the response format,
//! and score mAP_nc / mF1 against the split's annotations; or score responses already written.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use lmmrotate_abi::GenOptions;
use lmmrotate_core::{
    data,
    eval::{self, EvalFiles, GenerateConfig},
};
use lmmrotate_datatools::pyrandom::PyRandom;
use lmmrotate_core::{images, vis};
use lmmrotate_metrics::{merge_patches, task1, write_task1, ClassIndex, EvalOptions, PredImage};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    #[arg(long, default_value = "v2")]
    format: String,
    /// Dataset plugin.
    #[arg(long)]
    dataset: String,
    /// Root folder of the dataset, overriding the registry's `root`.
    #[arg(long = "dataset-root", alias = "data_root")]
    dataset_root: Option<PathBuf>,
    /// Split [default: the plugin's].
    #[arg(long)]
    split: Option<String>,
    /// Output folder: responses.jsonl, metrics.json, metrics.md [default: CHECKPOINT/eval_DATASET].
    #[arg(long, alias = "result_path")]
    out: Option<PathBuf>,
    /// Evaluate only this many images, after the shuffle (upstream --clip_num).
    #[arg(long = "clip_num", alias = "clip-num")]
    clip_num: Option<usize>,
    /// The image order is Python's `random.Random(seed).shuffle` of the dataset order, as upstream.
    #[arg(long = "shuffle_seed", alias = "shuffle-seed", default_value_t = 42)]
    shuffle_seed: u64,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    #[arg(long, default_value_t = 3)]
    num_beams: u32,
    #[arg(long, default_value_t = 0)]
    max_new_tokens: u32,
    #[arg(long, default_value_t = 3)]
    no_repeat_ngram_size: u32,
    /// Only score the responses already in the output folder (no model needed).
    #[arg(long)]
    metrics_only: bool,
    /// Mean ± sd of mAP_nc over this many random orders of tied detections.
    #[arg(long, default_value_t = 0)]
    tie_samples: usize,
    /// Draw ground truth | prediction for the evaluated images into OUT/vis (upstream --vis).
    #[arg(long)]
    vis: bool,
    /// Write a DOTA Task1 submission (patches merged, NMS 0.1) into OUT/Task1; the default for
    /// splits without annotations (test sets), which are then not scored.
    #[arg(long)]
    task1: bool,
    /// Also evaluate every `checkpoint-N` folder inside --checkpoint, each into its own
    /// `eval_<dataset>` folder (upstream --eval_intermediate_checkpoints).
    #[arg(long = "eval_intermediate_checkpoints", alias = "eval-intermediate-checkpoints", requires = "checkpoint")]
    eval_intermediate_checkpoints: bool,
    /// Generate only shard I of N (`I/N`, every N-th image from the I-th) into
    /// `responses.rankI.jsonl`; `--merge` later joins the shards. Under `lmmrotate launch`,
    /// torchrun or SLURM the shard is the rank's, and rank 0 merges when all are done.
    #[arg(long, value_name = "I/N", conflicts_with_all = ["metrics_only", "merge"])]
    shard: Option<String>,
    /// Merge the shard files of the output folder into responses.jsonl (every image exactly
    /// once), then score; no model needed.
    #[arg(long, conflicts_with = "metrics_only")]
    merge: bool,
}

/// Which part of the images this process generates for, and whether it waits for the others.
struct Sharding {
    rank: usize,
    world: usize,
    group: Option<std::sync::Arc<lmmrotate_dist::ProcessGroup>>,
}

/// This process's share of the generation; `None` when it has nothing to do.
fn sharding(a: &Args) -> Result<Option<Sharding>> {
    let alone = Sharding { rank: 0, world: 1, group: None };
    if a.metrics_only || a.merge {
        // Nothing to share out: rank 0 alone merges and scores (several ranks writing the
        // merged file at once would race); the other ranks of a launcher are done.
        let rank = lmmrotate_dist::DistEnv::from_env()?.map_or(0, |env| env.rank);
        return Ok((rank == 0).then_some(alone));
    }
    let group = super::join_group()?;
    if let Some(g) = &group {
        if a.shard.is_some() {
            bail!("--shard is for runs without a launcher; under launch/torchrun/SLURM each rank takes its own shard");
        }
        return Ok(Some(Sharding { rank: g.rank() as usize, world: g.world_size() as usize, group }));
    }
    let Some(spec) = &a.shard else { return Ok(Some(alone)) };
    let parsed = spec.split_once('/').and_then(|(i, n)| Some((i.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?)));
    match parsed {
        Some((i, n)) if i < n => Ok(Some(Sharding { rank: i, world: n, group: None })),
        _ => bail!("--shard {spec}: expected I/N with I below N, e.g. 0/4"),
    }
}

pub fn run(g: &Global, a: &Args) -> Result<Outcome> {
    let Some(sh) = sharding(a)? else {
        eprintln!("nothing to do on this rank (rank 0 merges and scores)");
        return Ok(Outcome::Done);
    };
    let plugins = super::open_plugins(g)?;
    let format = plugins.format(&a.format, &serde_json::json!({}))?;
    let mut dcfg = serde_json::json!({});
    if let Some(r) = &a.dataset_root {
        dcfg["root"] = r.display().to_string().into();
    }
    if let Some(s) = &a.split {
        dcfg["split"] = s.clone().into();
    }
    let ds = plugins.dataset(&a.dataset, &dcfg)?;
    let classes = ds.classes()?;
    let mut samples = data::all_samples(&ds)?;
    let mut order: Vec<usize> = (0..samples.len()).collect();
    PyRandom::new(a.shuffle_seed).shuffle(&mut order);
    if let Some(n) = a.clip_num {
        order.truncate(n);
    }
    let mut picked: Vec<Option<_>> = samples.drain(..).map(Some).collect();
    let samples: Vec<_> = order.iter().map(|&i| picked[i].take().expect("each index once")).collect();

    let out = match (&a.out, &a.model.checkpoint) {
        (Some(o), _) => o.clone(),
        (None, Some(c)) => c.join(format!("eval_{}", a.dataset)),
        (None, None) => bail!("give --out DIR (or --checkpoint, whose eval_<dataset> folder is used)"),
    };
    let mut runs = vec![(a.model.checkpoint.clone(), out)];
    if a.eval_intermediate_checkpoints {
        let root = a.model.checkpoint.clone().expect("clap requires --checkpoint");
        let mut inner: Vec<(u64, PathBuf)> = std::fs::read_dir(&root)
            .with_context(|| format!("reading {}", root.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let step = e.file_name().to_string_lossy().strip_prefix("checkpoint-")?.parse().ok()?;
                Some((step, e.path()))
            })
            .collect();
        inner.sort();
        runs.extend(inner.into_iter().map(|(_, p)| {
            let o = p.join(format!("eval_{}", a.dataset));
            (Some(p), o)
        }));
    }
    let prompt = format.prompt()?.task.to_string();
    for (checkpoint, out) in &runs {
        if runs.len() > 1 && sh.rank == 0 {
            println!("== {}", checkpoint.as_ref().map_or("(registry model)".into(), |c| c.display().to_string()));
        }
        evaluate_checkpoint(a, &plugins, &format, &prompt, &samples, &classes, checkpoint.as_deref(), out, &sh)?;
    }
    Ok(Outcome::Done)
}

/// Generation (unless --metrics-only), decoding, pictures, Task1 and scores for one checkpoint.
#[allow(clippy::too_many_arguments)]
fn evaluate_checkpoint(
    a: &Args,
    plugins: &lmmrotate_core::Plugins,
    format: &lmmrotate_core::Format,
    prompt: &str,
    samples: &[lmmrotate_abi::Sample],
    classes: &lmmrotate_abi::ClassTable,
    checkpoint: Option<&std::path::Path>,
    out: &std::path::Path,
    sh: &Sharding,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let files = EvalFiles::in_dir(out);

    if !a.metrics_only && !a.merge {
        let mut model = plugins.model(&a.model.model, &a.model.overrides(checkpoint, serde_json::Map::new())?)?;
        let cfg = GenerateConfig {
            batch_size: a.batch_size,
            options: GenOptions {
                num_beams: a.num_beams,
                max_new_tokens: a.max_new_tokens,
                no_repeat_ngram_size: a.no_repeat_ngram_size,
                ..GenOptions::default()
            },
            prompt: prompt.to_string(),
        };
        if sh.world == 1 {
            let n = eval::generate_responses(&mut model, samples, &files.responses, &cfg, plugins.host())?;
            println!("{n} new response(s) in {}", files.responses.display());
        } else {
            // This shard, less what an earlier merged run already answered.
            let merged: std::collections::HashSet<String> =
                eval::read_responses(&files.responses)?.into_iter().map(|r| r.image_id).collect();
            let mine: Vec<lmmrotate_abi::Sample> = eval::shard(samples, sh.rank, sh.world)
                .into_iter()
                .filter(|s| !merged.contains(s.image.id.as_str()))
                .cloned()
                .collect();
            let path = files.shard(sh.rank);
            let n = eval::generate_responses(&mut model, &mine, &path, &cfg, plugins.host())?;
            eprintln!("rank {} of {}: {n} new response(s) in {}", sh.rank, sh.world, path.display());
            match &sh.group {
                None => {
                    println!("shard {}/{} done; when all shards are, run the same command with --merge", sh.rank, sh.world);
                    return Ok(());
                }
                Some(g) => {
                    g.barrier()?;
                    if sh.rank != 0 {
                        return Ok(());
                    }
                }
            }
        }
    }
    if a.merge || sh.world > 1 || !files.shard_files()?.is_empty() {
        let ids: Vec<&str> = samples.iter().map(|s| s.image.id.as_str()).collect();
        let merged = eval::merge_responses(&files, &ids)?;
        println!("merged {} responses into {}", merged.len(), files.responses.display());
    }

    let responses = eval::read_responses(&files.responses)?;
    let wanted: std::collections::HashSet<&str> = samples.iter().map(|s| s.image.id.as_str()).collect();
    let responses: Vec<_> = responses.into_iter().filter(|r| wanted.contains(r.image_id.as_str())).collect();
    if responses.len() < samples.len() {
        bail!("{} of {} images have no response in {} (run without --metrics-only)", samples.len() - responses.len(), samples.len(), files.responses.display());
    }
    let (preds, dropped) = eval::decode_responses(format, &responses, classes)?;
    if dropped > 0 {
        println!("{dropped} response fragment(s) could not be read as boxes");
    }
    let names: Vec<String> = classes.names.iter().map(|s| s.to_string()).collect();
    if a.vis {
        draw(&out.join("vis"), samples, &preds, &names)?;
    }
    let has_gt = samples.iter().any(|s| !s.objects.is_empty());
    let patches = preds.iter().all(|p| task1::parse_patch_name(&p.id).is_some());
    if (a.task1 || !has_gt) && !patches {
        println!("no DOTA Task1 submission: it merges patches named {{image}}__{{size}}__{{x}}___{{y}}, and these images are not");
    } else if a.task1 || !has_gt {
        let index = ClassIndex::new(names.clone())?;
        let merged = merge_patches(names.len(), &preds, task1::MERGE_NMS_IOU)?;
        let written = write_task1(&out.join("Task1"), &index, &merged)?;
        println!("DOTA Task1 submission: {} files in {}", written.len(), out.join("Task1").display());
    }
    if !has_gt {
        println!("the split has no annotations: not scored");
        return Ok(());
    }
    let report = eval::score(samples, &preds, classes, &EvalOptions { tie_samples: a.tie_samples, ..EvalOptions::default() })?;
    std::fs::write(&files.metrics_json, report.to_json()).with_context(|| format!("writing {}", files.metrics_json.display()))?;
    std::fs::write(&files.table_md, report.to_markdown()).with_context(|| format!("writing {}", files.table_md.display()))?;
    println!("{}", report.to_text());
    println!("metrics: {}  table: {}", files.metrics_json.display(), files.table_md.display());
    Ok(())
}

/// Ground truth | prediction pictures of the evaluated images, in parallel.
fn draw(dir: &std::path::Path, samples: &[lmmrotate_abi::Sample], preds: &[PredImage], names: &[String]) -> Result<()> {
    use rayon::prelude::*;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let by_id: std::collections::HashMap<&str, &PredImage> = preds.iter().map(|p| (p.id.as_str(), p)).collect();
    samples.par_iter().try_for_each(|s| -> Result<()> {
        let img = images::open_rgb(std::path::Path::new(s.image.path.as_str()))?;
        let gt: Vec<vis::Object> =
            s.objects.iter().map(|o| vis::Object { class: o.class_id as usize, quad: o.quad.pts, score: None }).collect();
        let pred: Vec<vis::Object> = by_id
            .get(s.image.id.as_str())
            .map(|p| p.detections.iter().map(|d| vis::Object { class: d.class, quad: d.quad, score: d.score }).collect())
            .unwrap_or_default();
        let path = dir.join(format!("{}.png", s.image.id));
        vis::side_by_side(&img, names, &gt, &pred).save(&path).with_context(|| format!("writing {}", path.display()))
    })?;
    println!("pictures: {}", dir.display());
    Ok(())
}
