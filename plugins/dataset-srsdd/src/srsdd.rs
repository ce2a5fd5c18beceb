//! The `srsdd` entry: SRSDD-v1.0 (GF-3 SAR ship chips) as `ROOT/<split>/images` with DOTA-txt
//! `annfiles/` or `labelTxt/`, or upstream's COCO `ROOT/{train,test}.json` (README.md).

use lmmrotate_abi::{dataset_box, inventory, Entry, HostBox, PluginError};
use lmmrotate_dataset_reader::config::DatasetConfig;
use lmmrotate_dataset_reader::load::{load_split, Layout};
use lmmrotate_dataset_reader::{read_dota_annfile, splits_of, ClassIndex, Loaded, Problems};
use std::path::Path;

/// As upstream's `OrientedDetEvalDataset` for SRSDD; the class id is the index.
pub const CLASSES: [&str; 6] = ["Cell-Container", "Container", "Dredger", "Fishing", "LawEnforce", "ore-oil"];

inventory::submit! {
    Entry::dataset("srsdd", "SRSDD-v1.0 SAR ships (6 classes): ROOT/<split>/images + DOTA annfiles, or a COCO JSON (split default train)", |c, h| {
        Ok(dataset_box(load(&DatasetConfig::parse(c, "srsdd")?, &h)?))
    })
}

fn no_skipped_class(_: &str) -> bool {
    false
}

/// Reads the split named by `cfg` (default `train`) into memory.
pub fn load(cfg: &DatasetConfig, host: &HostBox) -> Result<Loaded, PluginError> {
    let root = cfg.root_dir()?;
    let classes = ClassIndex::new(&CLASSES);
    let layout = Layout {
        classes: &classes,
        splits: splits_of(root),
        ann_dirs: &["annfiles", "labelTxt"],
        exts: &["txt"],
        skip_class: no_skipped_class,
    };
    let split = cfg.split.as_deref().unwrap_or("train");
    let mut read = |p: &Path, problems: &mut Problems| read_dota_annfile(p, &classes, problems);
    load_split(cfg, &[root.join(split)], &layout, &mut read, host)
}
