//! The entry's JSON config (`{}` = upstream behaviour); unknown keys are errors.

use lmmrotate_abi::{ErrorKind, PluginError};
use lmmrotate_florence2_text::{DecodeOptions, Dequantize};
use lmmrotate_geometry::quantize::Precision;
use serde::Deserialize;

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantize {
    /// float32: matches upstream for integer coordinates in the annotation JSON.
    F32,
    /// float64: matches upstream for float coordinates.
    #[default]
    F64,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DequantizeMode {
    #[default]
    F32,
    F64,
}

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
        let json = if json.trim().is_empty() { "{}" } else { json };
        let cfg: Config = serde_json::from_str(json)
            .map_err(|e| PluginError::new(ErrorKind::INVALID_CONFIG, format!("format `allseeing` config: {e}")))?;
        if let Some(c) = cfg.fuzzy_cutoff {
            if !(0.0..=100.0).contains(&c) {
                return Err(PluginError::new(
                    ErrorKind::INVALID_CONFIG,
                    format!("format `allseeing` config: key `fuzzy_cutoff` must be in [0, 100], got {c}"),
                ));
            }
        }
        Ok(cfg)
    }

    pub fn precision(&self) -> Precision {
        match self.quantize {
            Quantize::F32 => Precision::F32,
            Quantize::F64 => Precision::F64,
        }
    }

    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            dequantize: match self.dequantize {
                DequantizeMode::F32 => Dequantize::F32,
                DequantizeMode::F64 => Dequantize::F64,
            },
            fuzzy_cutoff: self.fuzzy_cutoff,
            ..DecodeOptions::default()
        }
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
