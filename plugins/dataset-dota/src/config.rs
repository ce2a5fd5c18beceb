//! The JSON config of the DOTA-style entries.

use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;

/// `{"root": "data/split_ss_dota", "split": "trainval", "skip_bad": false, "classes": null}`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Dataset root: `ROOT/<split>/{images,annfiles}`, or `ROOT/{images,annfiles}` for
    /// `dota-folder` / `synthetic` without a split.
    pub root: String,
    /// `trainval`, `test`, ... (`dota` defaults to `trainval`).
    #[serde(default)]
    pub split: Option<String>,
    /// Skip bad files and lines, counting them in `problems()`, instead of failing.
    #[serde(default)]
    pub skip_bad: bool,
    /// `dota-folder` only: a class list file (one name per line). Without it the classes come from
    /// `ROOT/classes.txt`, or else from the annfiles (sorted names).
    #[serde(default)]
    pub classes: Option<String>,
}

impl Config {
    pub fn parse(json: &str, entry: &str) -> Result<Self, PluginError> {
        serde_json::from_str(json).map_err(|e| {
            PluginError::new(ErrorKind::INVALID_CONFIG, format!("{entry} config: {e} (keys: root, split, skip_bad, classes)"))
        })
    }
}
