//! Writes a synthetic dataset as a DOTA-style folder: `images/*.png`, `annfiles/*.txt` with one
//! `x1 y1 x2 y2 x3 y3 x4 y4 class difficulty` line per object, and `classes.txt`.

use crate::scene::{SceneConfig, CLASSES};
use crate::generate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synth options: {0}")]
    Config(String),
    #[error("writing {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("encoding {path}: {source}")]
    Image { path: PathBuf, source: image::ImageError },
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthOptions {
    pub images: usize,
    pub seed: u64,
    /// File stem prefix; image `i` is `{prefix}{i:06}`.
    pub prefix: String,
    pub scene: SceneConfig,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions { images: 100, seed: 0, prefix: "synth_".into(), scene: SceneConfig::default() }
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthSummary {
    pub images: usize,
    pub objects: usize,
    /// Objects per class, in the order of [`CLASSES`].
    pub per_class: Vec<usize>,
}

/// Generates `opts.images` scenes in parallel and writes them under `out` (created if needed;
/// existing files of the same names are overwritten). `progress(done, total)` is called after
/// each image, from worker threads.
pub fn write_dota_folder(
    out: &Path,
    opts: &SynthOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthSummary, SynthError> {
    opts.scene.validate().map_err(SynthError::Config)?;
    if opts.prefix.contains(['/', '\\']) {
        return Err(SynthError::Config(format!("prefix must not contain a path separator: {:?}", opts.prefix)));
    }
    let images = out.join("images");
    let annfiles = out.join("annfiles");
    for dir in [&images, &annfiles] {
        std::fs::create_dir_all(dir).map_err(|source| SynthError::Io { path: dir.clone(), source })?;
    }
    let classes_path = out.join("classes.txt");
    std::fs::write(&classes_path, CLASSES.join("\n") + "\n")
        .map_err(|source| SynthError::Io { path: classes_path, source })?;
    let done = AtomicUsize::new(0);
    let counts = (0..opts.images)
        .into_par_iter()
        .map(|i| {
            let scene = generate(&opts.scene, opts.seed, i as u64);
            let stem = format!("{}{i:06}", opts.prefix);
            let png = images.join(format!("{stem}.png"));
            scene.image.save(&png).map_err(|source| SynthError::Image { path: png, source })?;
            let mut text = String::new();
            let mut per_class = vec![0usize; CLASSES.len()];
            for o in &scene.objects {
                for v in o.quad {
                    write!(text, "{v:.1} ").expect("writing to a String");
                }
                writeln!(text, "{} {}", CLASSES[o.class_id], o.difficulty).expect("writing to a String");
                per_class[o.class_id] += 1;
            }
            let txt = annfiles.join(format!("{stem}.txt"));
            std::fs::write(&txt, text).map_err(|source| SynthError::Io { path: txt, source })?;
            progress(done.fetch_add(1, Ordering::Relaxed) + 1, opts.images);
            Ok(per_class)
        })
        .collect::<Result<Vec<_>, SynthError>>()?;
    let mut per_class = vec![0usize; CLASSES.len()];
    for c in &counts {
        for (a, b) in per_class.iter_mut().zip(c) {
            *a += b;
        }
    }
    Ok(SynthSummary { images: opts.images, objects: per_class.iter().sum(), per_class })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn writes_images_annfiles_and_classes() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SynthOptions {
            images: 3,
            seed: 9,
            scene: SceneConfig { width: 128, height: 96, ..Default::default() },
            ..Default::default()
        };
        let calls = Mutex::new(Vec::new());
        let summary = write_dota_folder(dir.path(), &opts, &|d, t| calls.lock().unwrap().push((d, t))).unwrap();
        let mut calls = calls.into_inner().unwrap();
        calls.sort();
        assert_eq!(calls, vec![(1, 3), (2, 3), (3, 3)]);
        assert_eq!(summary.images, 3);
        let classes = std::fs::read_to_string(dir.path().join("classes.txt")).unwrap();
        assert_eq!(classes.lines().collect::<Vec<_>>(), CLASSES);
        let mut lines = 0;
        for i in 0..3 {
            let img = image::open(dir.path().join(format!("images/synth_{i:06}.png"))).unwrap();
            assert_eq!((img.width(), img.height()), (128, 96));
            let ann = std::fs::read_to_string(dir.path().join(format!("annfiles/synth_{i:06}.txt"))).unwrap();
            for line in ann.lines() {
                let f: Vec<&str> = line.split(' ').collect();
                assert_eq!(f.len(), 10, "{line}");
                assert!(f[..8].iter().all(|v| v.parse::<f32>().is_ok()));
                assert!(CLASSES.contains(&f[8]));
                assert_eq!(f[9], "0");
                lines += 1;
            }
        }
        assert_eq!(lines, summary.objects);
        // Deterministic: a second run writes the same annotations.
        let dir2 = tempfile::tempdir().unwrap();
        write_dota_folder(dir2.path(), &opts, &|_, _| {}).unwrap();
        let a = std::fs::read(dir.path().join("annfiles/synth_000001.txt")).unwrap();
        let b = std::fs::read(dir2.path().join("annfiles/synth_000001.txt")).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn bad_options_are_rejected_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SynthOptions { prefix: "a/b".into(), ..Default::default() };
        assert!(matches!(write_dota_folder(dir.path(), &opts, &|_, _| {}), Err(SynthError::Config(_))));
        let opts = SynthOptions { scene: SceneConfig { min_objects: 5, max_objects: 2, ..Default::default() }, ..Default::default() };
        assert!(write_dota_folder(dir.path(), &opts, &|_, _| {}).unwrap_err().to_string().contains("min_objects"));
    }
}
