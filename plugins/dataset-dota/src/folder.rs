//! Loads a DOTA-style split through the shared reader: `DIR/images/*` (sorted by name) with
//! `DIR/annfiles/<stem>.txt` (or mmrotate's original `labelTxt/`), or a COCO JSON, where `DIR`
//! is `ROOT/<split>` or `ROOT`. A split with no annotation folder is an unlabelled test split;
//! otherwise every image needs its annfile and every annfile its image. A split named in
//! `select` is cut out of another split ([`crate::select`]).

use crate::select;
use lmmrotate_abi::{ErrorKind, HostBox, PluginError};
use lmmrotate_dataset_reader::config::DatasetConfig;
use lmmrotate_dataset_reader::folder::find_dir;
use lmmrotate_dataset_reader::load::{load_split, Layout};
use lmmrotate_dataset_reader::{parse_quad, read_class_file, read_dota_annfile, splits_of, ClassIndex, Loaded, Problems};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Annotation folders next to `images`, first found wins.
const ANN_DIRS: [&str; 2] = ["annfiles", "labelTxt"];

/// Where the class list comes from.
pub enum ClassSource {
    Fixed(Vec<String>),
    File(PathBuf),
    /// `classes.txt` in the split folder or the root, else the sorted names found in the annfiles.
    FileOrInferred,
}

fn no_skipped_class(_: &str) -> bool {
    false
}

/// Reads the split named by `cfg` into memory.
pub fn load(cfg: &DatasetConfig, classes: ClassSource, host: &HostBox) -> Result<Loaded, PluginError> {
    let root = cfg.root_dir()?;
    let selection = cfg.split.as_deref().and_then(|s| cfg.select.get_key_value(s));
    let dir = match (selection, &cfg.split) {
        (Some((_, sel)), _) => root.join(&sel.from),
        (None, Some(s)) => root.join(s),
        (None, None) => root.to_path_buf(),
    };
    let names = match classes {
        ClassSource::Fixed(v) => v,
        ClassSource::File(p) => read_class_file(&p)?,
        ClassSource::FileOrInferred => match [dir.join("classes.txt"), root.join("classes.txt")].into_iter().find(|p| p.is_file()) {
            Some(p) => read_class_file(&p)?,
            None => infer_classes(find_dir(&dir, &ANN_DIRS).as_deref(), &dir)?,
        },
    };
    let classes = ClassIndex::new(&names);
    let mut splits = splits_of(root);
    splits.extend(cfg.select.keys().cloned());
    splits.sort();
    splits.dedup();
    let layout = Layout { classes: &classes, splits, ann_dirs: &ANN_DIRS, exts: &["txt"], skip_class: no_skipped_class };
    let mut read = |p: &Path, problems: &mut Problems| read_dota_annfile(p, &classes, problems);
    let mut loaded = load_split(cfg, &[dir], &layout, &mut read, host)?;
    if let Some((name, sel)) = selection {
        select::keep(&mut loaded, name, sel, &cfg.select, host)?;
    }
    Ok(loaded)
}

/// The sorted class names used in the annfiles (what a user's custom folder implies).
fn infer_classes(ann_dir: Option<&Path>, dir: &Path) -> Result<Vec<String>, PluginError> {
    let ad = ann_dir.ok_or_else(|| {
        PluginError::new(ErrorKind::INVALID_CONFIG, format!("{}: no annfiles to infer classes from; give `classes`", dir.display()))
    })?;
    let rd = std::fs::read_dir(ad).map_err(|e| PluginError::from_std(ErrorKind::IO, &e).context(format!("listing {}", ad.display())))?;
    let mut names = BTreeSet::new();
    for f in rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "txt")) {
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
