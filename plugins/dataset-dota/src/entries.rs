//! The entries this library offers, each registered with `inventory::submit!`.

use crate::classes::{DOTA_V1_0, DOTA_V1_5, DOTA_V2_0, SYNTHETIC};
use crate::folder::{load, ClassSource};
use lmmrotate_abi::{dataset_box, inventory, DatasetBox, Entry, ErrorKind, HostBox, PluginError};
use lmmrotate_dataset_reader::config::DatasetConfig;

/// The config keys these entries take besides the common ones.
const EXTRA_KEYS: [&str; 2] = ["classes", "select"];

fn fixed(entry: &str, json: &str, names: &[&str], default_split: Option<&str>, host: HostBox) -> Result<DatasetBox, PluginError> {
    let mut cfg = DatasetConfig::parse_with(json, entry, &EXTRA_KEYS)?;
    if cfg.classes.is_some() {
        return Err(PluginError::new(
            ErrorKind::INVALID_CONFIG,
            format!("{entry} has a fixed class list; `classes` is for dota-folder"),
        ));
    }
    if cfg.split.is_none() {
        cfg.split = default_split.map(String::from);
    }
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    Ok(dataset_box(load(&cfg, ClassSource::Fixed(names), &host)?))
}

inventory::submit! {
    Entry::dataset("dota", "DOTA-v1.0 (15 classes): ROOT/<split>/images + annfiles (split default trainval)", |c, h| {
        fixed("dota", c, &DOTA_V1_0, Some("trainval"), h)
    })
}

inventory::submit! {
    Entry::dataset("dota-v1.5", "DOTA-v1.5 (16 classes, + container-crane)", |c, h| {
        fixed("dota-v1.5", c, &DOTA_V1_5, Some("trainval"), h)
    })
}

inventory::submit! {
    Entry::dataset("dota-v2.0", "DOTA-v2.0 (18 classes, + airport, helipad)", |c, h| {
        fixed("dota-v2.0", c, &DOTA_V2_0, Some("trainval"), h)
    })
}

inventory::submit! {
    Entry::dataset("synthetic", "synthetic aerial scenes written by `lmmrotate data synth` (6 classes)", |c, h| {
        fixed("synthetic", c, &SYNTHETIC, None, h)
    })
}

inventory::submit! {
    Entry::dataset(
        "dota-folder",
        "any folder of images + DOTA annfiles; classes from a file, ROOT/classes.txt or the annfiles",
        |c, h| {
            let cfg = DatasetConfig::parse_with(c, "dota-folder", &EXTRA_KEYS)?;
            let classes = match &cfg.classes {
                Some(f) => ClassSource::File(f.into()),
                None => ClassSource::FileOrInferred,
            };
            Ok(dataset_box(load(&cfg, classes, &h)?))
        }
    )
}
