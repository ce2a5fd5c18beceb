//! The entries' JSON config (`{}` = upstream behaviour); unknown keys are errors.

use lmmrotate_abi::PluginError;
pub use lmmrotate_florence2_text::config::{DequantizeMode, Quantize};
use lmmrotate_florence2_text::{config, DecodeOptions, ParseOptions};
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
    /// Decoder: keep a phrase that contains a newline (upstream loses the whole group).
    pub phrase_across_newline: bool,
}

impl Config {
    /// Parses the config of entry `entry`; an empty string means `{}`.
    pub fn from_json(entry: &str, json: &str) -> Result<Self, PluginError> {
        config::parse_config(entry, json, |c: &Config| c.fuzzy_cutoff)
    }

    pub fn precision(&self) -> Precision {
        self.quantize.precision()
    }

    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            parse: ParseOptions { phrase_across_newline: self.phrase_across_newline },
            ..config::decode_options(self.dequantize, self.fuzzy_cutoff)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        assert_eq!(Config::from_json("v2", "{}").unwrap(), Config::default());
        assert_eq!(Config::from_json("v2", "").unwrap(), Config::default());
        let c = Config::from_json("v2", r#"{"quantize": "f32", "fuzzy_cutoff": 80}"#).unwrap();
        assert_eq!((c.precision(), c.fuzzy_cutoff), (Precision::F32, Some(80.0)));
        let e = Config::from_json("v2", r#"{"quantise": "f32"}"#).unwrap_err();
        assert!(e.to_string().contains("quantise"), "{e}");
        assert!(Config::from_json("v2", r#"{"quantize": "f16"}"#).is_err());
        assert!(Config::from_json("v2", r#"{"fuzzy_cutoff": 101}"#).unwrap_err().to_string().contains("fuzzy_cutoff"));
    }
}
