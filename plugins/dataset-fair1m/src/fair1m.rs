//! The entries `fair1m` (FAIR1M-1.0) and `fair1m-2.0` and the folder layouts they read (the
//! plugin's README.md shows them): `ROOT/<split>/images` with `annfiles/` or `labelXml/` of XML
//! or DOTA-txt files, or a COCO JSON. `other-*` objects are skipped and counted in the log.

use crate::classes::{is_other, Item, CLASSES};
use crate::{txt, xml};
use lmmrotate_abi::{dataset_box, inventory, Entry, ErrorKind, HostBox, Object, PluginError};
use lmmrotate_dataset_reader::config::DatasetConfig;
use lmmrotate_dataset_reader::load::{load_split, Layout};
use lmmrotate_dataset_reader::{splits_of, ClassIndex, Loaded, Problems};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Which release: the splits differ, the classes do not.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// `train` and `test` (test labels withheld by the benchmark server).
    V1_0,
    /// `train` (the same images as 1.0), `val` (released with 2.0, folder `validation` or
    /// `val`) and `test`.
    V2_0,
}

inventory::submit! {
    Entry::dataset("fair1m", "FAIR1M-1.0 (34 classes): ROOT/<split>/images + XML or DOTA-txt annfiles, or a COCO JSON (split default train)", |c, h| {
        Ok(dataset_box(load(&DatasetConfig::parse(c, "fair1m")?, Version::V1_0, &h)?))
    })
}

inventory::submit! {
    Entry::dataset("fair1m-2.0", "FAIR1M-2.0 (34 classes): splits train, val (folder validation), test", |c, h| {
        Ok(dataset_box(load(&DatasetConfig::parse(c, "fair1m-2.0")?, Version::V2_0, &h)?))
    })
}

/// The split's folder under `root`.
fn split_dir(root: &Path, version: Version, split: &str) -> PathBuf {
    if version == Version::V2_0 && split == "val" {
        // The official FAIR1M-2.0 archive and upstream's `split_ss_fair1m_2_0` name it `validation`.
        let official = root.join("validation");
        if official.is_dir() {
            return official;
        }
    }
    root.join(split)
}

fn splits(root: &Path, version: Version) -> Vec<String> {
    let mut v: Vec<String> = splits_of(root)
        .into_iter()
        .map(|s| if version == Version::V2_0 && s == "validation" { "val".into() } else { s })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Reads the split named by `cfg` (default `train`) into memory.
pub fn load(cfg: &DatasetConfig, version: Version, host: &HostBox) -> Result<Loaded, PluginError> {
    let root = cfg.root_dir()?;
    let split = cfg.split.as_deref().unwrap_or("train");
    let classes = ClassIndex::new(&CLASSES);
    let layout = Layout {
        classes: &classes,
        splits: splits(root, version),
        ann_dirs: &["annfiles", "labelXml", "labelTxt"],
        exts: &["xml", "txt"],
        skip_class: is_other,
    };
    let mut others = BTreeMap::new();
    let mut read = |p: &Path, problems: &mut Problems| read_annotation(p, &classes, problems, &mut others);
    let loaded = load_split(cfg, &[split_dir(root, version, split)], &layout, &mut read, host)?;
    if !others.is_empty() {
        let counts: Vec<String> = others.iter().map(|(name, n)| format!("{name} {n}")).collect();
        host.info(format!("{}: skipped objects of the other-* classes, as upstream: {}", root.display(), counts.join(", ")));
    }
    Ok(loaded)
}

/// One XML or DOTA-txt file; `other-*` objects are counted into `others`.
fn read_annotation(
    path: &Path,
    classes: &ClassIndex,
    problems: &mut Problems,
    others: &mut BTreeMap<String, usize>,
) -> Result<Option<Vec<Object>>, PluginError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.report(ErrorKind::IO, format!("{}: cannot read: {e}", path.display()))?;
            return Ok(None);
        }
    };
    let items: Vec<(u32, Result<Item, String>)> = if path.extension().is_some_and(|e| e == "xml") {
        match xml::parse(&text, classes) {
            Ok(items) => items
                .into_iter()
                .map(|r| match r {
                    Ok(i) => (0, Ok(i)),
                    Err((line, msg)) => (line, Err(msg)),
                })
                .collect(),
            Err(msg) => {
                problems.report(ErrorKind::PARSE, format!("{}: {msg}", path.display()))?;
                return Ok(None);
            }
        }
    } else {
        text.lines()
            .enumerate()
            .filter_map(|(i, l)| txt::parse_line(l, classes).transpose().map(|r| (i as u32 + 1, r)))
            .collect()
    };
    let mut objects = Vec::with_capacity(items.len());
    for (line, r) in items {
        match r {
            Ok(Item::Object(o)) => objects.push(o),
            Ok(Item::Other(name)) => *others.entry(name).or_default() += 1,
            Err(msg) => problems.report(ErrorKind::PARSE, format!("{}:{line}: {msg}", path.display()))?,
        }
    }
    Ok(Some(objects))
}
