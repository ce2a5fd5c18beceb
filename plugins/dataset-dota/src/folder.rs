//! Loads a DOTA-style folder: `DIR/images/*` (sorted by name) with `DIR/annfiles/<stem>.txt`
//! (or mmrotate's original `labelTxt/`), where `DIR` is `ROOT/<split>` or `ROOT`. A split with
//! no annotation folder at all is an unlabelled test split; otherwise every image needs its
//! annfile and every annfile its image.

use crate::config::Config;
use lmmrotate_abi::{ErrorKind, HostBox, PluginError, Sample};
use lmmrotate_dataset_reader::{
    image_meta, list_images, parse_quad, read_class_file, read_dota_annfile, splits_of, stem, ClassIndex, Loaded,
    Problems,
};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Where the class list comes from.
pub enum ClassSource {
    Fixed(Vec<String>),
    File(PathBuf),
    /// `classes.txt` in the split folder or the root, else the sorted names found in the annfiles.
    FileOrInferred,
}

fn io(msg: String) -> PluginError {
    PluginError::new(ErrorKind::IO, msg)
}

/// Reads the split named by `cfg` into memory.
pub fn load(cfg: &Config, classes: ClassSource, host: &HostBox) -> Result<Loaded, PluginError> {
    let root = Path::new(&cfg.root);
    if !root.is_dir() {
        return Err(io(format!("dataset root {} is not a folder", root.display())));
    }
    let dir = match &cfg.split {
        Some(s) => root.join(s),
        None => root.to_path_buf(),
    };
    let splits = splits_of(root);
    let img_dir = dir.join("images");
    if !img_dir.is_dir() {
        return Err(io(format!("{} has no `images` folder (splits under {}: {})", dir.display(), root.display(), splits.join(", "))));
    }
    let ann_dir = ["annfiles", "labelTxt"].map(|d| dir.join(d)).into_iter().find(|p| p.is_dir());
    let names = match classes {
        ClassSource::Fixed(v) => v,
        ClassSource::File(p) => read_class_file(&p)?,
        ClassSource::FileOrInferred => match [dir.join("classes.txt"), root.join("classes.txt")].into_iter().find(|p| p.is_file()) {
            Some(p) => read_class_file(&p)?,
            None => infer_classes(ann_dir.as_deref(), &dir)?,
        },
    };
    let classes = ClassIndex::new(&names);
    let mut problems = Problems::new(cfg.skip_bad);
    let images = list_images(&img_dir)?;
    if ann_dir.is_none() {
        host.warn(format!("{} has no annfiles folder: its {} images are loaded without objects", dir.display(), images.len()));
    }
    let label = format!("load {}", dir.display());
    let mut seen = HashSet::new();
    let mut samples = Vec::with_capacity(images.len());
    for (i, path) in images.iter().enumerate() {
        if i % 256 == 0 {
            host.progress(label.as_str().into(), i as u64, images.len() as u64);
        }
        let id = stem(path);
        if !seen.insert(id.clone()) {
            problems.report(ErrorKind::PARSE, format!("{}: a second image with id {id:?}", path.display()))?;
            continue;
        }
        let image = match image_meta(path) {
            Ok(m) => m,
            Err(msg) => {
                problems.report(ErrorKind::IO, msg)?;
                continue;
            }
        };
        let objects = match &ann_dir {
            None => Vec::new(),
            Some(ad) => {
                let ann = ad.join(format!("{id}.txt"));
                if !ann.is_file() {
                    problems.report(ErrorKind::IO, format!("{}: no annotation file {}", path.display(), ann.display()))?;
                    continue;
                }
                match read_dota_annfile(&ann, &classes, &mut problems)? {
                    Some(o) => o,
                    None => continue,
                }
            }
        };
        samples.push(Sample { image, objects: objects.into() });
    }
    host.progress(label.as_str().into(), images.len() as u64, images.len() as u64);
    if let Some(ad) = &ann_dir {
        for ann in annfiles(ad)? {
            if !seen.contains(&stem(&ann)) {
                problems.report(ErrorKind::IO, format!("{}: no image {}/{}.*", ann.display(), img_dir.display(), stem(&ann)))?;
            }
        }
    }
    let problems = problems.into_vec();
    if !problems.is_empty() {
        host.warn(format!("{}: skipped {} bad inputs (see problems)", dir.display(), problems.len()));
    }
    Ok(Loaded { classes: classes.table().clone(), splits, samples, problems })
}

fn annfiles(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let rd = std::fs::read_dir(dir).map_err(|e| PluginError::from_std(ErrorKind::IO, &e).context(format!("listing {}", dir.display())))?;
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "txt")).collect();
    v.sort();
    Ok(v)
}

/// The sorted class names used in the annfiles (what a user's custom folder implies).
fn infer_classes(ann_dir: Option<&Path>, dir: &Path) -> Result<Vec<String>, PluginError> {
    let ad = ann_dir.ok_or_else(|| {
        PluginError::new(ErrorKind::INVALID_CONFIG, format!("{}: no annfiles to infer classes from; give `classes`", dir.display()))
    })?;
    let mut names = BTreeSet::new();
    for f in annfiles(ad)? {
        // Unreadable files and malformed lines are reported when the files are read for real.
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if (9..=10).contains(&fields.len()) && parse_quad(&fields[..8]).is_ok() {
                names.insert(fields[8].to_string());
            }
        }
    }
    if names.is_empty() {
        return Err(PluginError::new(ErrorKind::INVALID_CONFIG, format!("{}: the annfiles name no class; give `classes`", ad.display())));
    }
    Ok(names.into_iter().collect())
}
