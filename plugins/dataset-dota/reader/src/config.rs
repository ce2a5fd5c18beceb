//! The JSON config of the dataset entries (DOTA-style, FAIR1M, SRSDD, RSAR): per-image
//! annotation folders or one COCO JSON file, and the keys only some entries take.

use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `{"root": "data/RSAR", "split": "trainval", "skip_bad": false, "annotations": null, "images": null}`,
/// plus `classes` and `select` where the entry takes them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// Dataset root; splits are folders under it.
    pub root: String,
    /// Split name; each entry has its own default and folder names.
    #[serde(default)]
    pub split: Option<String>,
    /// Skip bad files, lines and JSON entries, counting them in `problems()`, instead of failing.
    #[serde(default)]
    pub skip_bad: bool,
    /// A COCO polygon JSON read instead of the split's annotation folder (relative to `root`).
    #[serde(default)]
    pub annotations: Option<String>,
    /// The folder the COCO `file_name`s are relative to (relative to `root`); defaults to the
    /// split's `images` folder.
    #[serde(default)]
    pub images: Option<String>,
    /// A class list file, one name per line (entries without a fixed class list).
    #[serde(default)]
    pub classes: Option<String>,
    /// Splits cut out of another split by the original images their patches come from, as
    /// upstream's `dota_train` (entries of patch datasets): split name -> selection.
    #[serde(default)]
    pub select: BTreeMap<String, Selection>,
}

/// The patches of split `from` whose original image id is listed by `ids`: a folder (its file
/// stems, as upstream lists `DOTA/train/images`) or a text file with one id per line. Relative
/// to the folder lmmrotate runs in, like `root`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    pub from: String,
    pub ids: String,
}

/// The keys every entry takes.
const COMMON_KEYS: [&str; 5] = ["root", "split", "skip_bad", "annotations", "images"];

impl DatasetConfig {
    /// Parses `json` for an entry that takes the common keys only.
    pub fn parse(json: &str, entry: &str) -> Result<Self, PluginError> {
        Self::parse_with(json, entry, &[])
    }

    /// Parses `json` for `entry`, which takes the common keys and `extra` (`classes`,
    /// `select`); any other key is an error listing the ones it takes.
    pub fn parse_with(json: &str, entry: &str, extra: &[&str]) -> Result<Self, PluginError> {
        let keys = COMMON_KEYS.iter().chain(extra).copied().collect::<Vec<_>>().join(", ");
        let bad = |msg: String| PluginError::new(ErrorKind::INVALID_CONFIG, format!("{entry} config: {msg} (keys: {keys})"));
        let cfg: Self = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        for (key, given) in [("classes", cfg.classes.is_some()), ("select", !cfg.select.is_empty())] {
            if given && !extra.contains(&key) {
                return Err(bad(format!("`{key}` is not a key of {entry}")));
            }
        }
        if cfg.images.is_some() && cfg.annotations.is_none() {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("{entry} config: `images` is only used with `annotations` (a COCO JSON)"),
            ));
        }
        Ok(cfg)
    }

    /// The root folder, checked to exist.
    pub fn root_dir(&self) -> Result<&Path, PluginError> {
        let root = Path::new(&self.root);
        if root.is_dir() {
            Ok(root)
        } else {
            Err(PluginError::new(ErrorKind::IO, format!("dataset root {} is not a folder", root.display())))
        }
    }

    /// `path` as given when absolute, else under `root` (upstream's paths are relative to its
    /// `data_root`).
    pub fn resolve(&self, path: &str) -> PathBuf {
        Path::new(&self.root).join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_paths_resolve_under_root() {
        let c = DatasetConfig::parse(r#"{"root": "/d", "annotations": "train.json"}"#, "srsdd").unwrap();
        assert_eq!(c.resolve("train.json"), PathBuf::from("/d/train.json"));
        assert_eq!(c.resolve("/abs/x.json"), PathBuf::from("/abs/x.json"));
        let e = DatasetConfig::parse(r#"{"root": "/d", "anotations": "x"}"#, "srsdd").unwrap_err();
        assert!(e.to_string().contains("unknown field `anotations`") && e.to_string().contains("srsdd"), "{e}");
        let e = DatasetConfig::parse(r#"{"root": "/d", "images": "x"}"#, "rsar").unwrap_err();
        assert!(e.to_string().contains("only used with `annotations`"), "{e}");
    }

    #[test]
    fn optional_keys_only_where_the_entry_takes_them() {
        let json = r#"{"root": "/d", "select": {"train": {"from": "trainval", "ids": "DOTA/train/images"}}}"#;
        let e = DatasetConfig::parse(json, "fair1m").unwrap_err().to_string();
        assert!(e.contains("`select` is not a key of fair1m") && e.contains("(keys: root, split, skip_bad, annotations, images)"), "{e}");
        let c = DatasetConfig::parse_with(json, "dota", &["classes", "select"]).unwrap();
        assert_eq!(c.select["train"], Selection { from: "trainval".into(), ids: "DOTA/train/images".into() });
        let e = DatasetConfig::parse_with(r#"{"root": "/d", "classes": "c.txt"}"#, "srsdd", &["select"]).unwrap_err();
        assert!(e.to_string().contains("`classes` is not a key of srsdd"), "{e}");
        let e = DatasetConfig::parse_with(r#"{"root": "/d", "select": {"val": {"from": "trainval"}}}"#, "dota", &["select"]);
        assert!(e.unwrap_err().to_string().contains("missing field `ids`"));
    }
}
