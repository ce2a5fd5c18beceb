//! `lmmrotate metrics`: mAP_nc, mAP and mF1 of predictions against DOTA annotations, as LMMRotate
//! evaluates them, and DOTA Task1 submission files from the same predictions.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use lmmrotate_abi::{ClassTable, ImageMeta};
use lmmrotate_metrics::{
    evaluate, merge_patches, read_dota_annfiles, read_predictions_jsonl, read_task1_dir, task1, write_task1,
    BuildOptions, ClassIndex, Detection, EvalInput, EvalOptions, LineProblem, Loaded, PredImage, ReadError,
    ReadOptions,
};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Ground truth: a folder of DOTA annotation files (`<image id>.txt`, `x1 y1 … x4 y4 class
    /// difficulty` per line). Optional with --task1-out alone (test sets have none).
    #[arg(long, value_name = "DIR", required_unless_present = "task1_out")]
    gt: Option<PathBuf>,
    /// Predictions: a folder of `Task1_<class>.txt` files, or a JSON Lines file of raw model
    /// responses (`{"image_id", "width", "height", "response"}`, needs --format) or of parsed
    /// detections (`{"image_id", "detections": [{"class", "quad", "score"?}]}`).
    #[arg(long, value_name = "PATH")]
    pred: PathBuf,
    /// Response format plugin that decodes raw responses (see `lmmrotate plugins`).
    #[arg(long, value_name = "NAME")]
    format: Option<String>,
    /// Class names in class-id order: comma separated, a file with one name per line, or the
    /// name of a registered dataset plugin (its classes).
    #[arg(long, value_name = "LIST|FILE|DATASET")]
    classes: String,
    /// IoU at which a detection matches a ground truth (mAP and mF1).
    #[arg(long, default_value_t = 0.5)]
    iou: f64,
    /// Also report mean ± sd of mAP_nc over this many random orders of the tied detections.
    #[arg(long, value_name = "N", default_value_t = 0)]
    tie_samples: usize,
    /// Seed of the random tie orders.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    tie_seed: u64,
    /// Skip malformed input lines (counted, exit code 1) instead of stopping at the first.
    #[arg(long)]
    skip_bad: bool,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "OUT", requires = "gt")]
    json: Option<PathBuf>,
    /// Write a DOTA Task1 submission here: patches merged onto their original image (offsets
    /// from `__<x>___<y>` in the image id), rotated NMS at 0.1 per image and class.
    #[arg(long, value_name = "DIR")]
    task1_out: Option<PathBuf>,
}

/// The three kinds of prediction input, told apart by folder vs file and the first line's keys.
#[derive(Debug, PartialEq)]
enum PredKind {
    Task1Dir,
    RawResponses,
    Parsed,
}

fn pred_kind(path: &Path) -> Result<PredKind> {
    if path.is_dir() {
        return Ok(PredKind::Task1Dir);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let Some((i, line)) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else {
        bail!("{}: no predictions (the file is empty)", path.display());
    };
    let first: serde_json::Value = serde_json::from_str(line)
        .with_context(|| format!("{}:{}: not JSON Lines and not a Task1 folder", path.display(), i + 1))?;
    let has = |k: &str| first.get(k).is_some();
    if has("response") {
        Ok(PredKind::RawResponses)
    } else if has("detections") {
        Ok(PredKind::Parsed)
    } else {
        bail!(
            "{}:{}: expected a raw response (key \"response\") or parsed predictions (key \"detections\")",
            path.display(),
            i + 1
        )
    }
}

/// `--classes`: a file with one name per line, a registered dataset's classes, or a comma list.
fn read_classes(g: &Global, arg: &str) -> Result<ClassIndex> {
    ClassIndex::new(super::class_names_or_dataset(g, arg)?).with_context(|| format!("--classes {arg:?}"))
}

#[derive(Deserialize)]
struct RawResponse {
    image_id: String,
    width: u32,
    height: u32,
    response: String,
}

/// Decodes every line of a raw-responses file with the format plugin. Objects the decoder drops
/// are a property of the model's output, not bad input, so they are only tallied per reason.
fn read_raw_responses(
    g: &Global,
    path: &Path,
    format: &str,
    classes: &ClassIndex,
    opts: &ReadOptions,
) -> Result<(Loaded<Vec<PredImage>>, BTreeMap<String, u64>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let plugins = super::open_plugins(g)?;
    let plugin = plugins.format(format, &serde_json::json!({}))?;
    let table = ClassTable::from_names(classes.names());
    let mut images = Vec::new();
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    let mut dropped: BTreeMap<String, u64> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<RawResponse>(line)
            .map_err(|e| LineProblem::Json { message: e.to_string() })
            .and_then(|r| {
                if seen.insert(r.image_id.clone()) {
                    Ok(r)
                } else {
                    Err(LineProblem::DuplicateImage { id: r.image_id })
                }
            });
        let raw = match parsed {
            Ok(r) => r,
            Err(problem) => {
                let err = ReadError::Line { path: path.to_path_buf(), line: i + 1, problem };
                if opts.skip_bad {
                    skipped.push(err);
                    continue;
                }
                return Err(err.into());
            }
        };
        let meta =
            ImageMeta { id: raw.image_id.as_str().into(), path: "".into(), width: raw.width, height: raw.height };
        let decoded = plugin
            .decode(&raw.response, &meta, &table)
            .with_context(|| format!("{}:{}: decoding the response", path.display(), i + 1))?;
        for d in decoded.dropped.iter() {
            *dropped.entry(d.reason.to_string()).or_default() += u64::from(d.count);
        }
        let detections = decoded
            .detections
            .iter()
            .map(|d| Detection { class: d.class_id as usize, quad: d.quad.pts, score: d.score.into_option() })
            .collect();
        images.push(PredImage { id: raw.image_id, detections });
    }
    Ok((Loaded { items: images, skipped }, dropped))
}

/// Logs each skipped line (the first few) and returns how many there were.
fn report_skipped(skipped: &[ReadError]) -> usize {
    const SHOWN: usize = 20;
    for e in skipped.iter().take(SHOWN) {
        tracing::warn!("skipped {e}");
    }
    if skipped.len() > SHOWN {
        tracing::warn!("... and {} more skipped lines", skipped.len() - SHOWN);
    }
    skipped.len()
}

pub fn run(g: &Global, args: &Args) -> Result<Outcome> {
    let classes = read_classes(g, &args.classes)?;
    let opts = ReadOptions { skip_bad: args.skip_bad };
    let kind = pred_kind(&args.pred)?;
    if args.format.is_some() && kind != PredKind::RawResponses {
        bail!("--format applies to raw responses only; {} holds parsed predictions", args.pred.display());
    }
    let preds = match kind {
        PredKind::Task1Dir => read_task1_dir(&args.pred, &classes, &opts)?,
        PredKind::Parsed => read_predictions_jsonl(&args.pred, &classes, &opts)?,
        PredKind::RawResponses => {
            let Some(format) = &args.format else {
                bail!("{} holds raw model responses: pass --format NAME to decode them", args.pred.display());
            };
            let (loaded, dropped) = read_raw_responses(g, &args.pred, format, &classes, &opts)?;
            for (reason, n) in &dropped {
                tracing::info!("the decoder dropped {n} objects: {reason}");
            }
            loaded
        }
    };
    let mut skipped = report_skipped(&preds.skipped);

    if let Some(gt_dir) = &args.gt {
        let gts = read_dota_annfiles(gt_dir, &classes, &opts)?;
        skipped += report_skipped(&gts.skipped);
        let mut input = EvalInput::build(&classes, &gts.items, &preds.items, &BuildOptions::default())?;
        input.skipped_lines = skipped;
        let eval_opts = EvalOptions {
            iou_thr: args.iou,
            tie_samples: args.tie_samples,
            tie_seed: args.tie_seed,
            ..EvalOptions::default()
        };
        let report = evaluate(&input, &eval_opts)?;
        print!("{}", report.to_text());
        if let Some(out) = &args.json {
            std::fs::write(out, report.to_json() + "\n").with_context(|| format!("writing {}", out.display()))?;
        }
    }
    if let Some(dir) = &args.task1_out {
        let merged = merge_patches(classes.len(), &preds.items, task1::MERGE_NMS_IOU)?;
        let files = write_task1(dir, &classes, &merged)?;
        tracing::info!("wrote {} Task1 files to {}", files.len(), dir.display());
    }
    if skipped > 0 {
        eprintln!("{skipped} bad input lines skipped (--skip-bad)");
        Ok(Outcome::Partial)
    } else {
        Ok(Outcome::Done)
    }
}
