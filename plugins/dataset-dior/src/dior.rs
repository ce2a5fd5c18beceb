//! The `dior` entry: DIOR-R as distributed, `ROOT/Annotations/Oriented Bounding Boxes/<id>.xml`,
//! images in `ROOT/JPEGImages-trainval`, `ROOT/JPEGImages-test` (or `JPEGImages`), split lists
//! in `ROOT/ImageSets/Main/<split>.txt` (or `ROOT/<split>.txt`). Without a list, every XML file is
//! a sample. Classes as upstream's `OrientedDetEvalDataset` for DIOR. With `annotations` the
//! objects come from a COCO JSON instead (upstream's `Annotations/{trainval,test}.json`).

use crate::xml;
use lmmrotate_abi::{dataset_box, inventory, Entry, ErrorKind, HostBox, PluginError, Sample};
use lmmrotate_dataset_reader::coco::{read_coco, CocoOptions};
use lmmrotate_dataset_reader::config::DatasetConfig;
use lmmrotate_dataset_reader::{image_meta, stem, ClassIndex, Loaded, Problems, IMAGE_EXTS};
use std::path::{Path, PathBuf};

pub const CLASSES: [&str; 20] = [
    "airplane",
    "airport",
    "baseballfield",
    "basketballcourt",
    "bridge",
    "chimney",
    "expressway-service-area",
    "expressway-toll-station",
    "dam",
    "golffield",
    "groundtrackfield",
    "harbor",
    "overpass",
    "ship",
    "stadium",
    "storagetank",
    "tenniscourt",
    "trainstation",
    "vehicle",
    "windmill",
];

/// The reader crate's config (`root`, `split`, `skip_bad`, `annotations`, `images`); the split
/// defaults to `trainval` — or `train`, `val`, `test`, or any list name under `ImageSets/Main`.
pub type Config = DatasetConfig;

fn split(cfg: &Config) -> &str {
    cfg.split.as_deref().unwrap_or("trainval")
}

inventory::submit! {
    Entry::dataset("dior", "DIOR-R (20 classes): VOC-style XML with robndbox corners", |c, h| {
        let cfg = DatasetConfig::parse(c, "dior")?;
        Ok(dataset_box(load(&cfg, &h)?))
    })
}

fn io(msg: String) -> PluginError {
    PluginError::new(ErrorKind::IO, msg)
}

/// Folders that may hold the split's images, most specific first.
fn image_dirs(root: &Path, split: &str) -> Vec<PathBuf> {
    let group = if split == "test" { "test" } else { "trainval" };
    [format!("JPEGImages-{split}"), format!("JPEGImages-{group}"), "JPEGImages".into(), "JPEGImage".into()]
        .into_iter()
        .map(|d| root.join(d))
        .filter(|p| p.is_dir())
        .collect()
}

fn find_image(dirs: &[PathBuf], id: &str) -> Option<PathBuf> {
    dirs.iter()
        .flat_map(|d| IMAGE_EXTS.iter().map(move |e| d.join(format!("{id}.{e}"))))
        .find(|p| p.is_file())
}

/// The split's ids: from its list file, else every annotation file.
fn ids(root: &Path, ann_dir: &Path, split: &str) -> Result<Vec<String>, PluginError> {
    let list = [root.join("ImageSets/Main").join(format!("{split}.txt")), root.join(format!("{split}.txt"))]
        .into_iter()
        .find(|p| p.is_file());
    if let Some(list) = list {
        let text = std::fs::read_to_string(&list).map_err(|e| io(format!("{}: cannot read: {e}", list.display())))?;
        return Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect());
    }
    let rd = std::fs::read_dir(ann_dir).map_err(|e| io(format!("listing {}: {e}", ann_dir.display())))?;
    let mut v: Vec<String> = rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "xml")).map(|p| stem(&p)).collect();
    v.sort();
    Ok(v)
}

fn splits(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("ImageSets/Main"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| stem(&p))
        .collect();
    v.sort();
    v
}

pub fn load(cfg: &Config, host: &HostBox) -> Result<Loaded, PluginError> {
    let root = Path::new(&cfg.root);
    if !root.is_dir() {
        return Err(io(format!("dataset root {} is not a folder", root.display())));
    }
    if let Some(json) = &cfg.annotations {
        return load_coco(cfg, root, json, host);
    }
    let ann_dir = ["Annotations/Oriented Bounding Boxes", "Annotations"]
        .map(|d| root.join(d))
        .into_iter()
        .find(|p| p.is_dir())
        .ok_or_else(|| io(format!("{} has no `Annotations/Oriented Bounding Boxes` folder", root.display())))?;
    let dirs = image_dirs(root, split(cfg));
    if dirs.is_empty() {
        return Err(io(format!("{} has no JPEGImages-{} / JPEGImages folder", root.display(), split(cfg))));
    }
    let classes = ClassIndex::new(&CLASSES);
    let mut problems = Problems::new(cfg.skip_bad);
    let ids = ids(root, &ann_dir, split(cfg))?;
    let label = format!("load {} {}", root.display(), split(cfg));
    let mut samples = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if i % 256 == 0 {
            host.progress(label.as_str().into(), i as u64, ids.len() as u64);
        }
        let Some(img) = find_image(&dirs, id) else {
            problems.report(ErrorKind::IO, format!("image {id} not found in {}", dirs[0].display()))?;
            continue;
        };
        let image = match image_meta(&img) {
            Ok(m) => m,
            Err(msg) => {
                problems.report(ErrorKind::IO, msg)?;
                continue;
            }
        };
        let ann = ann_dir.join(format!("{id}.xml"));
        let text = match std::fs::read_to_string(&ann) {
            Ok(t) => t,
            Err(e) => {
                problems.report(ErrorKind::IO, format!("{}: cannot read: {e}", ann.display()))?;
                continue;
            }
        };
        let objects = match xml::parse(&text, &classes) {
            Ok(objs) => {
                let mut good = Vec::with_capacity(objs.len());
                for o in objs {
                    match o {
                        Ok(o) => good.push(o),
                        Err((line, msg)) => problems.report(ErrorKind::PARSE, format!("{}:{line}: {msg}", ann.display()))?,
                    }
                }
                good
            }
            Err(msg) => {
                problems.report(ErrorKind::PARSE, format!("{}: {msg}", ann.display()))?;
                continue;
            }
        };
        samples.push(Sample { image, objects: objects.into() });
    }
    host.progress(label.as_str().into(), ids.len() as u64, ids.len() as u64);
    Ok(Loaded { classes: classes.table().clone(), splits: splits(root), samples, problems: problems.into_vec() })
}

fn no_skipped_class(_: &str) -> bool {
    false
}

fn load_coco(cfg: &Config, root: &Path, json: &str, host: &HostBox) -> Result<Loaded, PluginError> {
    // `images` names the folder of the COCO file names; else the split's JPEGImages folders.
    let dirs = match &cfg.images {
        Some(d) => vec![root.join(d)],
        None => image_dirs(root, split(cfg)),
    };
    if dirs.is_empty() {
        return Err(io(format!("{} has no JPEGImages-{} / JPEGImages folder", root.display(), split(cfg))));
    }
    let classes = ClassIndex::new(&CLASSES);
    let mut problems = Problems::new(cfg.skip_bad);
    let opts = CocoOptions { classes: &classes, image_dirs: &dirs, skip_class: no_skipped_class };
    let read = read_coco(&root.join(json), &opts, &mut problems)?;
    if let Some(d) = read.dropped.describe() {
        host.info(format!("{json}: {d} (as mmdet's CocoDataset)"));
    }
    Ok(Loaded { classes: classes.table().clone(), splits: splits(root), samples: read.samples, problems: problems.into_vec() })
}
