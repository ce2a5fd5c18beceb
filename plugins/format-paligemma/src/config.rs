//! The entry's JSON config (`{}` = defaults); unknown keys are errors.

use lmmrotate_abi::PluginError;
use serde::Deserialize;

/// The prompt the model is trained and evaluated with (PaliGemma prompts are plain text).
pub const DEFAULT_PROMPT: &str = "detect quad";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The model's prompt (the processor appends `\n`).
    pub prompt: String,
    /// Decoder: drop labels whose best WRatio score is below this, in [0, 100] (default: none,
    /// every label lands on its most similar class as in florence2 v2).
    pub fuzzy_cutoff: Option<f64>,
}

impl Default for Config {
    fn default() -> Self {
        Self { prompt: DEFAULT_PROMPT.into(), fuzzy_cutoff: None }
    }
}

impl Config {
    /// Parses the config; an empty string means `{}`.
    pub fn from_json(json: &str) -> Result<Self, PluginError> {
        lmmrotate_florence2_text::config::parse_config("paligemma", json, |c: &Config| c.fuzzy_cutoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        assert_eq!(Config::from_json("").unwrap(), Config::default());
        assert_eq!(Config::from_json(r#"{"prompt": "detect"}"#).unwrap().prompt, "detect");
        assert!(Config::from_json(r#"{"quantize": "f32"}"#).unwrap_err().to_string().contains("quantize"));
        assert!(Config::from_json(r#"{"fuzzy_cutoff": -1}"#).is_err());
    }
}
