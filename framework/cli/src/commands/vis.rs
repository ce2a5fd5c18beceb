//! `lmmrotate vis`: draws ground truth (DOTA annfiles), predictions (JSON Lines), or both side by
//! side, as labelled oriented boxes in class colours, one PNG per image.

use crate::{exit::Outcome, Global};
use anyhow::{Context, Result};
use lmmrotate_core::{images, vis};
use lmmrotate_metrics::{read_dota_annfile, read_predictions_jsonl, ClassIndex, ReadError, ReadOptions};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("boxes").args(["gt", "pred"]).required(true).multiple(true)))]
pub struct Args {
    /// Image files or folders of images; matched to annotations and predictions by file stem
    /// (the image id).
    #[arg(long, value_name = "DIR|FILE", num_args = 1.., required = true)]
    images: Vec<PathBuf>,
    /// Ground truth: a folder of DOTA annotation files (`<image id>.txt`). Without --pred, every
    /// image given is drawn.
    #[arg(long, value_name = "DIR")]
    gt: Option<PathBuf>,
    /// Predictions: the `predictions.jsonl` of `lmmrotate predict`, or any JSON Lines of parsed
    /// detections (`{"image_id", "detections": [{"class", "quad", "score"?}]}`). Every image of
    /// the file is drawn; with --gt too, ground truth | prediction side by side.
    #[arg(long, value_name = "FILE")]
    pred: Option<PathBuf>,
    /// Class names in class-id order (they fix the colours): comma separated, or a file with one
    /// name per line.
    #[arg(long, value_name = "LIST|FILE")]
    classes: String,
    /// Output folder: `<image id>.png`.
    #[arg(long, value_name = "DIR", default_value = "vis")]
    out: PathBuf,
    /// Skip malformed annotation or prediction lines (counted, exit code 1). Without it a bad
    /// prediction line stops the run and a bad annotation file leaves its image undrawn.
    #[arg(long)]
    skip_bad: bool,
}

/// One picture to draw: the image id and its predictions (`None` without --pred).
struct Job {
    id: String,
    pred: Option<Vec<vis::Object>>,
}

fn image_id(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reports problems (the first few in full) on stderr; returns how many there were.
fn report(problems: &[String]) -> usize {
    const SHOWN: usize = 20;
    for p in problems.iter().take(SHOWN) {
        tracing::warn!("{p}");
    }
    if problems.len() > SHOWN {
        tracing::warn!("... and {} more", problems.len() - SHOWN);
    }
    problems.len()
}

/// The ground truth of one image and the lines skipped in it (with --skip-bad); an error when
/// there is none to draw.
fn read_gt(
    dir: &Path,
    id: &str,
    classes: &ClassIndex,
    opts: &ReadOptions,
) -> Result<(Vec<vis::Object>, Vec<String>), String> {
    let path = dir.join(format!("{id}.txt"));
    if !path.is_file() {
        return Err(format!("{id}: no annotation file {}", path.display()));
    }
    let loaded = read_dota_annfile(&path, classes, opts).map_err(|e| e.to_string())?;
    let objects = loaded.items.iter().map(|o| vis::Object { class: o.class, quad: o.quad, score: None }).collect();
    Ok((objects, loaded.skipped.iter().map(ReadError::to_string).collect()))
}

/// Draws one picture and writes it: whether it was written, and the problems met.
fn draw(
    job: &Job,
    image: Option<&PathBuf>,
    args: &Args,
    classes: &ClassIndex,
    opts: &ReadOptions,
) -> (bool, Vec<String>) {
    let Some(path) = image else {
        return (false, vec![format!("{}: no image with this stem among --images", job.id)]);
    };
    let mut problems = Vec::new();
    let gt = match &args.gt {
        Some(dir) => match read_gt(dir, &job.id, classes, opts) {
            Ok((objects, skipped)) => {
                problems.extend(skipped);
                Some(objects)
            }
            Err(problem) => return (false, vec![problem]),
        },
        None => None,
    };
    let img = match images::open_rgb(path) {
        Ok(img) => img,
        Err(e) => return (false, vec![format!("{}: {e}", job.id)]),
    };
    let names = classes.names();
    let picture = match (gt.as_deref(), job.pred.as_deref()) {
        (Some(gt), Some(pred)) => vis::side_by_side(&img, names, gt, pred),
        (gt, pred) => {
            let mut img = img;
            vis::draw_objects(&mut img, names, gt.or(pred).unwrap_or_default());
            img
        }
    };
    let out = args.out.join(format!("{}.png", job.id));
    if let Err(e) = picture.save(&out) {
        problems.push(format!("writing {}: {e}", out.display()));
        return (false, problems);
    }
    (true, problems)
}

pub fn run(_: &Global, args: &Args) -> Result<Outcome> {
    let classes =
        ClassIndex::new(super::class_names(&args.classes)?).with_context(|| format!("--classes {:?}", args.classes))?;
    let opts = ReadOptions { skip_bad: args.skip_bad };
    let files = super::predict::collect_images(&args.images)?;
    let mut problems = Vec::new();
    let mut by_id: HashMap<String, PathBuf> = HashMap::new();
    for f in files {
        let id = image_id(&f);
        if let Some(first) = by_id.get(&id) {
            problems.push(format!("{id}: two images, {} and {}; drawing the first", first.display(), f.display()));
        } else {
            by_id.insert(id, f);
        }
    }
    // The predictions file, when given, says which images to draw; else the images given do.
    let jobs: Vec<Job> = match &args.pred {
        Some(path) => {
            let loaded = read_predictions_jsonl(path, &classes, &opts)?;
            problems.extend(loaded.skipped.iter().map(ReadError::to_string));
            loaded
                .items
                .into_iter()
                .map(|p| {
                    let objects =
                        p.detections.iter().map(|d| vis::Object { class: d.class, quad: d.quad, score: d.score });
                    Job { id: p.id, pred: Some(objects.collect()) }
                })
                .collect()
        }
        None => {
            let mut ids: Vec<String> = by_id.keys().cloned().collect();
            ids.sort();
            ids.into_iter().map(|id| Job { id, pred: None }).collect()
        }
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let results: Vec<(bool, Vec<String>)> =
        jobs.par_iter().map(|job| draw(job, by_id.get(&job.id), args, &classes, &opts)).collect();
    let drawn = results.iter().filter(|(written, _)| *written).count();
    problems.extend(results.into_iter().flat_map(|(_, p)| p));
    println!("{drawn} of {} image(s) drawn to {}/", jobs.len(), args.out.display());
    if report(&problems) > 0 {
        eprintln!("{} problem(s); see the warnings above", problems.len());
        Ok(Outcome::Partial)
    } else {
        Ok(Outcome::Done)
    }
}
