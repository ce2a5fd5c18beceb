//! Readers for DOTA annotation files, DOTA Task1 result folders and parsed-prediction JSON Lines.
//! Every error names the file and line; with `skip_bad` a bad line is recorded and skipped.

use crate::classes::ClassIndex;
use crate::error::{LineProblem, ReadError};
use crate::input::{Detection, GtImage, GtObject, PredImage};
use lmmrotate_geometry::Quad;
use rayon::prelude::*;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Options shared by the readers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Skip malformed lines (recording them in [`Loaded::skipped`]) instead of failing. A missing
    /// or unreadable file is always an error.
    pub skip_bad: bool,
}

/// What a reader produced, plus the lines it skipped (only with `skip_bad`).
#[derive(Debug)]
pub struct Loaded<T> {
    pub items: T,
    pub skipped: Vec<ReadError>,
}

fn read_text(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|source| ReadError::Io { path: path.to_path_buf(), source })
}

/// Calls `f` on every line (1-based numbers) and applies the skip policy to its problems.
fn for_lines(
    path: &Path,
    text: &str,
    opts: &ReadOptions,
    skipped: &mut Vec<ReadError>,
    mut f: impl FnMut(usize, &str) -> Result<(), LineProblem>,
) -> Result<(), ReadError> {
    for (i, line) in text.lines().enumerate() {
        if let Err(problem) = f(i + 1, line) {
            let err = ReadError::Line { path: path.to_path_buf(), line: i + 1, problem };
            if opts.skip_bad {
                skipped.push(err);
            } else {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// Parses fields `first..first + 8` as a finite quad; field numbers in problems are 1-based.
fn parse_quad(fields: &[&str], first: usize) -> Result<Quad, LineProblem> {
    let mut q = [0f32; 8];
    for (k, v) in q.iter_mut().enumerate() {
        *v = parse_finite(fields[first + k], first + k + 1)?;
    }
    Ok(q)
}

fn parse_finite(text: &str, field: usize) -> Result<f32, LineProblem> {
    let v: f32 = text.parse().map_err(|_| LineProblem::NotANumber { field, text: text.to_string() })?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(LineProblem::NotFinite { field, text: text.to_string() })
    }
}

/// One DOTA annotation file: `x1 y1 x2 y2 x3 y3 x4 y4 class difficulty` per object (difficulty
/// may be absent: 0), blank lines and the `imagesource:` / `gsd:` header lines skipped.
pub fn read_dota_annfile(
    path: &Path,
    classes: &ClassIndex,
    opts: &ReadOptions,
) -> Result<Loaded<Vec<GtObject>>, ReadError> {
    let text = read_text(path)?;
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for_lines(path, &text, opts, &mut skipped, |_, line| {
        let t = line.trim();
        if t.is_empty() || t.starts_with("imagesource:") || t.starts_with("gsd:") {
            return Ok(());
        }
        let fields: Vec<&str> = t.split_whitespace().collect();
        if !(9..=10).contains(&fields.len()) {
            return Err(LineProblem::FieldCount {
                expected: "9 or 10 (8 coordinates, class, difficulty)",
                found: fields.len(),
            });
        }
        let quad = parse_quad(&fields, 0)?;
        let class = classes.get(fields[8]).ok_or_else(|| LineProblem::UnknownClass { name: fields[8].to_string() })?;
        let difficulty = match fields.get(9) {
            None => 0,
            Some(d) => d.parse().map_err(|_| LineProblem::BadDifficulty { text: d.to_string() })?,
        };
        objects.push(GtObject { class, quad, difficulty });
        Ok(())
    })?;
    Ok(Loaded { items: objects, skipped })
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let io = |source| ReadError::Io { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_file() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Every `*.txt` of a DOTA `annfiles` folder, as images in ascending file-name order (the
/// documented tie order); the image id is the file stem.
pub fn read_dota_annfiles(
    dir: &Path,
    classes: &ClassIndex,
    opts: &ReadOptions,
) -> Result<Loaded<Vec<GtImage>>, ReadError> {
    let files: Vec<PathBuf> =
        list_dir(dir)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "txt")).collect();
    let loaded: Vec<Result<(GtImage, Vec<ReadError>), ReadError>> = files
        .par_iter()
        .map(|p| {
            let l = read_dota_annfile(p, classes, opts)?;
            let id = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            Ok((GtImage { id, objects: l.items }, l.skipped))
        })
        .collect();
    let mut images = Vec::with_capacity(loaded.len());
    let mut skipped = Vec::new();
    for r in loaded {
        let (img, s) = r?;
        images.push(img);
        skipped.extend(s);
    }
    Ok(Loaded { items: images, skipped })
}

/// A DOTA Task1 folder: `Task1_<class>.txt` files with lines `image score x1 y1 … x4 y4`.
/// Detections are grouped per image (images in order of first appearance, files in class order,
/// lines in file order). A file whose name is not a known class is an error.
pub fn read_task1_dir(
    dir: &Path,
    classes: &ClassIndex,
    opts: &ReadOptions,
) -> Result<Loaded<Vec<PredImage>>, ReadError> {
    let mut files: Vec<(usize, PathBuf)> = Vec::new();
    for p in list_dir(dir)? {
        let name = p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let Some(class_name) = name.strip_prefix("Task1_").and_then(|s| s.strip_suffix(".txt")) else { continue };
        let class = classes
            .get(class_name)
            .ok_or_else(|| ReadError::UnknownClassFile { path: p.clone(), class: class_name.to_string() })?;
        files.push((class, p));
    }
    if files.is_empty() {
        return Err(ReadError::NoTask1Files { path: dir.to_path_buf() });
    }
    files.sort_by_key(|(c, _)| *c);
    let mut images: Vec<PredImage> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut skipped = Vec::new();
    for (class, path) in &files {
        let text = read_text(path)?;
        for_lines(path, &text, opts, &mut skipped, |_, line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                return Ok(());
            }
            if fields.len() != 10 {
                return Err(LineProblem::FieldCount {
                    expected: "10 (image, score, 8 coordinates)",
                    found: fields.len(),
                });
            }
            let score = parse_finite(fields[1], 2)?;
            let quad = parse_quad(&fields, 2)?;
            let slot = *index.entry(fields[0].to_string()).or_insert_with(|| {
                images.push(PredImage { id: fields[0].to_string(), detections: Vec::new() });
                images.len() - 1
            });
            images[slot].detections.push(Detection { class: *class, quad, score: Some(score) });
            Ok(())
        })?;
    }
    Ok(Loaded { items: images, skipped })
}

#[derive(Deserialize)]
struct JsonImage {
    image_id: String,
    detections: Vec<JsonDetection>,
}

#[derive(Deserialize)]
struct JsonDetection {
    class: String,
    quad: Vec<f64>,
    #[serde(default)]
    score: Option<f64>,
}

/// Parsed predictions, JSON Lines: `{"image_id": "...", "detections": [{"class": "...", "quad":
/// [8 numbers], "score": optional}]}` per line (other keys are ignored). Class names must match
/// exactly after normalisation (fuzzy matching belongs to the response parser). A bad line is
/// skipped whole with `skip_bad`.
pub fn read_predictions_jsonl(
    path: &Path,
    classes: &ClassIndex,
    opts: &ReadOptions,
) -> Result<Loaded<Vec<PredImage>>, ReadError> {
    let text = read_text(path)?;
    let mut images = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut skipped = Vec::new();
    for_lines(path, &text, opts, &mut skipped, |_, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        let img: JsonImage = serde_json::from_str(line).map_err(|e| LineProblem::Json { message: e.to_string() })?;
        if seen.contains(&img.image_id) {
            return Err(LineProblem::DuplicateImage { id: img.image_id });
        }
        let mut dets = Vec::with_capacity(img.detections.len());
        for (index, d) in img.detections.iter().enumerate() {
            let class = classes.get(&d.class).ok_or_else(|| LineProblem::UnknownClass { name: d.class.clone() })?;
            if d.quad.len() != 8 {
                return Err(LineProblem::QuadLength { found: d.quad.len() });
            }
            let quad: Quad = std::array::from_fn(|k| d.quad[k] as f32);
            if quad.iter().any(|v| !v.is_finite()) {
                return Err(LineProblem::NonFiniteDetection { index, what: "quad" });
            }
            let score = d.score.map(|s| s as f32);
            if score.is_some_and(|s| !s.is_finite()) {
                return Err(LineProblem::NonFiniteDetection { index, what: "score" });
            }
            dets.push(Detection { class, quad, score });
        }
        seen.insert(img.image_id.clone());
        images.push(PredImage { id: img.image_id, detections: dets });
        Ok(())
    })?;
    Ok(Loaded { items: images, skipped })
}
