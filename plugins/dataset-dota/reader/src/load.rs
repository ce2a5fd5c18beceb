//! Loading one split as a [`DatasetConfig`] describes it: the split folders' per-image
//! annotation files, or the COCO JSON named by `annotations`.

use crate::coco::{read_coco, CocoOptions};
use crate::config::DatasetConfig;
use crate::folder::{load_parts, part, ReadAnnotation};
use crate::{ClassIndex, Loaded, Problems};
use lmmrotate_abi::{ErrorKind, HostBox, PluginError};
use std::path::PathBuf;

/// What a dataset entry fixes: its classes, the splits it reports and its folder names.
pub struct Layout<'a> {
    pub classes: &'a ClassIndex,
    /// Split names as the user passes them (for `splits()` and error messages).
    pub splits: Vec<String>,
    /// Annotation folder names next to `images`, first found wins.
    pub ann_dirs: &'a [&'a str],
    /// Annotation file extensions, first found wins.
    pub exts: &'a [&'a str],
    /// Class names skipped and counted rather than reported (FAIR1M's `other-*`).
    pub skip_class: fn(&str) -> bool,
}

/// Reads the split stored in `dirs` (one folder, or several read as one split, as RSAR's
/// `trainval` = `train` + `val`), each holding `images/` and an annotation folder, or takes the
/// objects from `cfg.annotations`. `read` parses one annotation file.
pub fn load_split(
    cfg: &DatasetConfig,
    dirs: &[PathBuf],
    layout: &Layout<'_>,
    read: &mut ReadAnnotation<'_>,
    host: &HostBox,
) -> Result<Loaded, PluginError> {
    let root = cfg.root_dir()?;
    let mut problems = Problems::new(cfg.skip_bad);
    let samples = match &cfg.annotations {
        Some(json) => {
            let image_dirs: Vec<PathBuf> = match &cfg.images {
                Some(d) => vec![cfg.resolve(d)],
                None => dirs.iter().map(|d| d.join("images")).collect(),
            };
            if !image_dirs.iter().any(|d| d.is_dir()) {
                let names: Vec<String> = image_dirs.iter().map(|d| d.display().to_string()).collect();
                return Err(PluginError::new(
                    ErrorKind::IO,
                    format!("no image folder {} (splits under {}: {})", names.join(" or "), root.display(), layout.splits.join(", ")),
                ));
            }
            let opts = CocoOptions { classes: layout.classes, image_dirs: &image_dirs, skip_class: layout.skip_class };
            let read = read_coco(&cfg.resolve(json), &opts, &mut problems)?;
            if let Some(d) = read.dropped.describe() {
                host.info(format!("{json}: {d} (as mmdet's CocoDataset)"));
            }
            read.samples
        }
        None => {
            let mut parts = Vec::with_capacity(dirs.len());
            for d in dirs {
                if !d.is_dir() {
                    return Err(PluginError::new(
                        ErrorKind::IO,
                        format!("split folder {} not found (splits under {}: {})", d.display(), root.display(), layout.splits.join(", ")),
                    ));
                }
                parts.push(part(d, layout.ann_dirs)?);
            }
            load_parts(&parts, layout.exts, read, &mut problems, host)?
        }
    };
    let problems = problems.into_vec();
    if !problems.is_empty() {
        host.warn(format!("{}: skipped {} bad inputs (see problems)", root.display(), problems.len()));
    }
    Ok(Loaded { classes: layout.classes.table().clone(), splits: layout.splits.clone(), samples, problems })
}
