//! The entry's JSON config (`{}` = upstream behaviour); unknown keys are errors.

use lmmrotate_abi::PluginError;
pub use lmmrotate_florence2_text::config::{DequantizeMode, Quantize};
use lmmrotate_florence2_text::{config, DecodeOptions};
use lmmrotate_geometry::quantize::Precision;
use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Encoder: `"f64"` (default) or `"f32"`.
    pub quantize: Quantize,
    /// Decoder: `"f32"` (default, upstream) or `"f64"`.
    pub dequantize: DequantizeMode,
    /// Decoder: drop labels whose best WRatio score is below this, in [0, 100] (default: none).
    pub fuzzy_cutoff: Option<f64>,
}

impl Config {
    /// Parses the config; an empty string means `{}`.
    pub fn from_json(json: &str) -> Result<Self, PluginError> {
        config::parse_config("allseeing", json, |c: &Config| c.fuzzy_cutoff)
    }

    pub fn precision(&self) -> Precision {
        self.quantize.precision()
    }

    pub fn decode_options(&self) -> DecodeOptions {
        config::decode_options(self.dequantize, self.fuzzy_cutoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_errors() {
        assert_eq!(Config::from_json("{}").unwrap(), Config::default());
        assert!(Config::from_json(r#"{"phrase_across_newline": true}"#).is_err());
    }
}
