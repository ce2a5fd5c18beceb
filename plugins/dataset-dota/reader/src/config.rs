//! The JSON config shared by the dataset entries that read either per-image annotation folders
//! or one COCO JSON file (FAIR1M, SRSDD, RSAR).

use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `{"root": "data/RSAR", "split": "trainval", "skip_bad": false, "annotations": null, "images": null}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
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
}

impl DatasetConfig {
    /// Parses `json`, naming `entry` and the accepted keys on failure.
    pub fn parse(json: &str, entry: &str) -> Result<Self, PluginError> {
        let cfg: Self = serde_json::from_str(json).map_err(|e| {
            PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("{entry} config: {e} (keys: root, split, skip_bad, annotations, images)"),
            )
        })?;
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
}
