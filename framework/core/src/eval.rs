//! Evaluation: generate a response per image into a JSON Lines file that an interrupted run
//! resumes without duplicates, then decode the responses with the format and score them against
//! the dataset's ground truth (mAP_nc, mF1, per-class table).

use crate::{
    error::{CoreError, Result},
    host::{cancel_requested, TerminalHost},
    images,
    plugins::{Format, Model},
};
use lmmrotate_abi::{abi_stable::std_types::RString, ClassTable, GenBatch, GenOptions, ImageMeta, Sample};
use lmmrotate_metrics::{
    evaluate, input::BuildOptions, ClassIndex, Detection, EvalInput, EvalOptions, GtImage, GtObject, PredImage, Report,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::{
    collections::HashSet,
    io::Write,
    path::{Path, PathBuf},
};

/// One line of `responses.jsonl`: what the model said about an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub image_id: String,
    pub width: u32,
    pub height: u32,
    pub response: String,
}

/// Reads the responses already written; a last line cut by a kill is dropped (and truncated away
/// so that appending continues on a clean line boundary).
pub fn read_responses(path: &Path) -> Result<Vec<Response>> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    let mut good_len = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if !line.ends_with('\n') {
            break;
        }
        match serde_json::from_str::<Response>(line.trim_end()) {
            Ok(r) => out.push(r),
            Err(e) => return Err(CoreError::Invalid(format!("{}: line {}: {e}", path.display(), i + 1))),
        }
        good_len += line.len();
    }
    if good_len < text.len() {
        let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| CoreError::io(path, e))?;
        f.set_len(good_len as u64).map_err(|e| CoreError::io(path, e))?;
    }
    Ok(out)
}

pub struct GenerateConfig {
    pub batch_size: usize,
    pub options: GenOptions,
    pub prompt: String,
}

/// Generates for every sample not yet in `responses` (by image id), appending as it goes.
/// Returns the number of new responses.
pub fn generate_responses(
    model: &mut Model,
    samples: &[Sample],
    responses: &Path,
    cfg: &GenerateConfig,
    host: &TerminalHost,
) -> Result<usize> {
    let done: HashSet<String> = read_responses(responses)?.into_iter().map(|r| r.image_id).collect();
    let todo: Vec<&Sample> = samples.iter().filter(|s| !done.contains(s.image.id.as_str())).collect();
    if todo.is_empty() {
        return Ok(0);
    }
    if !done.is_empty() {
        tracing::info!("resuming: {} of {} images already have a response", done.len(), samples.len());
    }
    model.set_training(false)?;
    let spec = model.info()?.image;
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(responses).map_err(|e| CoreError::io(responses, e))?;
    let bar = host.bar("generate", samples.len() as u64);
    bar.set_position(done.len() as u64);
    let mut written = 0;
    for chunk in todo.chunks(cfg.batch_size.max(1)) {
        if cancel_requested() {
            break;
        }
        let inputs = chunk
            .par_iter()
            .map(|s| images::open_rgb(Path::new(s.image.path.as_str())).map(|img| images::to_model_input(&img, &spec)))
            .collect::<Result<Vec<_>>>()?;
        let batch = GenBatch { images: inputs.into(), prompts: vec![RString::from(cfg.prompt.as_str()); chunk.len()].into() };
        let gens = model.generate(&batch, &cfg.options)?;
        let mut text = String::new();
        for (s, g) in chunk.iter().zip(gens) {
            let r = Response {
                image_id: s.image.id.to_string(),
                width: s.image.width,
                height: s.image.height,
                response: g.text.to_string(),
            };
            text.push_str(&serde_json::to_string(&r).expect("serialises"));
            text.push('\n');
        }
        // One write per batch, then flush: a kill loses at most the batch in flight.
        out.write_all(text.as_bytes()).and_then(|_| out.flush()).map_err(|e| CoreError::io(responses, e))?;
        written += chunk.len();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(written)
}

/// Decoded predictions of the responses (original-image pixels), with how many fragments the
/// format dropped.
pub fn decode_responses(format: &Format, responses: &[Response], classes: &ClassTable) -> Result<(Vec<PredImage>, u64)> {
    let mut dropped = 0u64;
    let preds = responses
        .iter()
        .map(|r| {
            let meta = ImageMeta { id: r.image_id.as_str().into(), path: "".into(), width: r.width, height: r.height };
            let d = format.decode(&r.response, &meta, classes)?;
            dropped += d.dropped.iter().map(|x| x.count as u64).sum::<u64>();
            Ok(PredImage {
                id: r.image_id.clone(),
                detections: d
                    .detections
                    .iter()
                    .map(|det| Detection { class: det.class_id as usize, quad: det.quad.pts, score: det.score.into_option() })
                    .collect(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((preds, dropped))
}

/// mAP_nc, mF1 and the per-class table of predictions against the samples' annotations.
pub fn score(samples: &[Sample], preds: &[PredImage], classes: &ClassTable, opts: &EvalOptions) -> Result<Report> {
    let index = ClassIndex::new(classes.names.iter().map(|s| s.to_string())).map_err(|e| CoreError::Invalid(e.to_string()))?;
    let gts: Vec<GtImage> = samples
        .iter()
        .map(|s| GtImage {
            id: s.image.id.to_string(),
            objects: s
                .objects
                .iter()
                .map(|o| GtObject { class: o.class_id as usize, quad: o.quad.pts, difficulty: o.difficulty })
                .collect(),
        })
        .collect();
    let input = EvalInput::build(&index, &gts, preds, &BuildOptions::default()).map_err(|e| CoreError::Invalid(e.to_string()))?;
    evaluate(&input, opts).map_err(|e| CoreError::Invalid(e.to_string()))
}

/// The samples of shard `rank` of `world`: every `world`-th from position `rank`, so that each
/// shard gets a like share of a shuffled list.
pub fn shard<T>(items: &[T], rank: usize, world: usize) -> Vec<&T> {
    items.iter().skip(rank).step_by(world.max(1)).collect()
}

/// Merges `responses.jsonl` and the shard files of `files` into `responses.jsonl`, in the order of
/// `wanted` (image ids), and removes the shard files once the merged file is in place. Fails,
/// writing nothing, when an image is missing or two files disagree about one.
pub fn merge_responses(files: &EvalFiles, wanted: &[&str]) -> Result<Vec<Response>> {
    let mut sources = vec![files.responses.clone()];
    sources.extend(files.shard_files()?);
    let mut by_id: std::collections::HashMap<String, (Response, PathBuf)> = std::collections::HashMap::new();
    for src in &sources {
        for r in read_responses(src)? {
            match by_id.get(&r.image_id) {
                Some((seen, from)) if seen.response != r.response => {
                    return Err(CoreError::Invalid(format!(
                        "image {} has different responses in {} and {} (shards of runs with different settings? remove one)",
                        r.image_id,
                        from.display(),
                        src.display()
                    )));
                }
                Some(_) => {}
                None => {
                    by_id.insert(r.image_id.clone(), (r, src.clone()));
                }
            }
        }
    }
    let missing: Vec<&str> = wanted.iter().copied().filter(|id| !by_id.contains_key(*id)).collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().copied().take(5).collect();
        return Err(CoreError::Invalid(format!(
            "{} of {} images have no response in {} or its shard files (first: {}); run the missing shards again",
            missing.len(),
            wanted.len(),
            files.responses.display(),
            shown.join(", ")
        )));
    }
    let merged: Vec<Response> = wanted.iter().map(|id| by_id.remove(*id).expect("checked above").0).collect();
    let mut text = String::new();
    for r in &merged {
        text.push_str(&serde_json::to_string(r).expect("serialises"));
        text.push('\n');
    }
    let tmp = files.responses.with_extension("jsonl.tmp");
    std::fs::write(&tmp, text).map_err(|e| CoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, &files.responses).map_err(|e| CoreError::io(&files.responses, e))?;
    for s in &sources[1..] {
        std::fs::remove_file(s).map_err(|e| CoreError::io(s, e))?;
    }
    Ok(merged)
}

/// Files of an evaluation folder.
pub struct EvalFiles {
    pub responses: PathBuf,
    pub metrics_json: PathBuf,
    pub table_md: PathBuf,
}

impl EvalFiles {
    /// The responses of shard `rank` (`responses.rank<R>.jsonl`), merged by `merge_responses`.
    pub fn shard(&self, rank: usize) -> PathBuf {
        self.responses.with_file_name(format!("responses.rank{rank}.jsonl"))
    }

    /// Shard files present in the folder, by rank.
    pub fn shard_files(&self) -> Result<Vec<PathBuf>> {
        let dir = self.responses.parent().unwrap_or(Path::new("."));
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
        let mut found: Vec<(usize, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let rank = name.strip_prefix("responses.rank")?.strip_suffix(".jsonl")?.parse().ok()?;
                Some((rank, e.path()))
            })
            .collect();
        found.sort();
        Ok(found.into_iter().map(|(_, p)| p).collect())
    }

    pub fn in_dir(dir: &Path) -> Self {
        Self {
            responses: dir.join("responses.jsonl"),
            metrics_json: dir.join("metrics.json"),
            table_md: dir.join("metrics.md"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(id: &str, text: &str) -> Response {
        Response { image_id: id.into(), width: 8, height: 8, response: text.into() }
    }

    fn write(path: &Path, rs: &[Response]) {
        let text: String = rs.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn shards_deal_every_item_once() {
        let items: Vec<u32> = (0..7).collect();
        let all: Vec<Vec<u32>> = (0..3).map(|r| shard(&items, r, 3).into_iter().copied().collect()).collect();
        assert_eq!(all, vec![vec![0, 3, 6], vec![1, 4], vec![2, 5]]);
    }

    #[test]
    fn merge_puts_shards_in_sample_order_and_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let files = EvalFiles::in_dir(dir.path());
        write(&files.responses, &[resp("a", "x")]);
        write(&files.shard(1), &[resp("c", "z")]);
        write(&files.shard(0), &[resp("b", "y"), resp("a", "x")]);
        let merged = merge_responses(&files, &["c", "a", "b"]).unwrap();
        assert_eq!(merged, vec![resp("c", "z"), resp("a", "x"), resp("b", "y")]);
        assert_eq!(read_responses(&files.responses).unwrap(), merged);
        assert!(files.shard_files().unwrap().is_empty());
    }

    #[test]
    fn merge_refuses_missing_images_and_conflicts_without_touching_files() {
        let dir = tempfile::tempdir().unwrap();
        let files = EvalFiles::in_dir(dir.path());
        write(&files.shard(0), &[resp("a", "x")]);
        let e = merge_responses(&files, &["a", "b"]).unwrap_err().to_string();
        assert!(e.contains("1 of 2 images have no response") && e.contains("first: b"), "{e}");
        write(&files.shard(1), &[resp("a", "other")]);
        let e = merge_responses(&files, &["a"]).unwrap_err().to_string();
        assert!(e.contains("image a has different responses") && e.contains("responses.rank1.jsonl"), "{e}");
        assert_eq!(files.shard_files().unwrap().len(), 2);
        assert!(!files.responses.exists());
    }

    #[test]
    fn a_line_cut_by_a_kill_is_dropped_and_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let good = r#"{"image_id":"a","width":4,"height":4,"response":"x"}"#;
        std::fs::write(&p, format!("{good}\n{{\"image_id\":\"b\",\"wid")).unwrap();
        let r = read_responses(&p).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), format!("{good}\n"));
        std::fs::write(&p, format!("{good}\nnot json\n")).unwrap();
        assert!(read_responses(&p).unwrap_err().to_string().contains("r.jsonl: line 2"));
    }
}
