//! The `rsar` entry: RSAR as `ROOT/<split>/images` + DOTA-txt `annfiles/` (upstream's
//! `RSARDataset`), or upstream's COCO `ROOT/{trainval,test}.json`. `trainval` is the
//! `trainval/` folder when there is one, else `train/` and `val/` read as one split.

use lmmrotate_abi::{dataset_box, inventory, Entry, HostBox, PluginError};
use lmmrotate_dataset_reader::config::DatasetConfig;
use lmmrotate_dataset_reader::load::{load_split, Layout};
use lmmrotate_dataset_reader::{read_dota_annfile, splits_of, ClassIndex, Loaded, Problems};
use std::path::{Path, PathBuf};

/// As upstream's `RSARDataset`; the class id is the index.
pub const CLASSES: [&str; 6] = ["ship", "aircraft", "car", "tank", "bridge", "harbor"];

inventory::submit! {
    Entry::dataset("rsar", "RSAR SAR objects (6 classes): ROOT/<split>/images + DOTA annfiles, or a COCO JSON (split default trainval = train + val)", |c, h| {
        Ok(dataset_box(load(&DatasetConfig::parse(c, "rsar")?, &h)?))
    })
}

fn no_skipped_class(_: &str) -> bool {
    false
}

/// The split's folders: `trainval` without its own folder is `train` + `val` (upstream makes
/// it with symlinks, `RSAR/symlink_creator.py`).
fn split_dirs(root: &Path, split: &str) -> Vec<PathBuf> {
    let dir = root.join(split);
    if split == "trainval" && !dir.is_dir() {
        vec![root.join("train"), root.join("val")]
    } else {
        vec![dir]
    }
}

fn splits(root: &Path) -> Vec<String> {
    let mut v = splits_of(root);
    if v.iter().any(|s| s == "train") && v.iter().any(|s| s == "val") && !v.iter().any(|s| s == "trainval") {
        v.push("trainval".into());
        v.sort();
    }
    v
}

/// Reads the split named by `cfg` (default `trainval`) into memory.
pub fn load(cfg: &DatasetConfig, host: &HostBox) -> Result<Loaded, PluginError> {
    let root = cfg.root_dir()?;
    let classes = ClassIndex::new(&CLASSES);
    let layout = Layout {
        classes: &classes,
        splits: splits(root),
        ann_dirs: &["annfiles", "labelTxt"],
        exts: &["txt"],
        skip_class: no_skipped_class,
    };
    let split = cfg.split.as_deref().unwrap_or("trainval");
    let mut read = |p: &Path, problems: &mut Problems| read_dota_annfile(p, &classes, problems);
    load_split(cfg, &split_dirs(root, split), &layout, &mut read, host)
}
