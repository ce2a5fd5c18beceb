//! The entries' JSON config (`{}` = upstream behaviour); unknown keys are errors.

use lmmrotate_abi::{ErrorKind, PluginError};
use lmmrotate_florence2_text::{DecodeOptions, Dequantize, ParseOptions};
use lmmrotate_geometry::quantize::Precision;
use serde::Deserialize;

/// Quantisation arithmetic of the encoder (upstream divides in the dtype of the COCO JSON).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantize {
    /// float32: matches upstream when the annotation JSON holds integer coordinates.
    F32,
    /// float64: matches upstream when it holds float coordinates (DOTA polygons as floats).
    #[default]
    F64,
}

/// De-quantisation arithmetic of the decoder.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DequantizeMode {
    /// float32, as upstream.
    #[default]
    F32,
    /// float64 rounded once to float32 (fix).
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
    /// Decoder: keep a phrase that contains a newline (upstream loses the whole group).
    pub phrase_across_newline: bool,
}

impl Config {
    /// Parses the config of entry `entry`; an empty string means `{}`.
    pub fn from_json(entry: &str, json: &str) -> Result<Self, PluginError> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        let cfg: Config = serde_json::from_str(json)
            .map_err(|e| PluginError::new(ErrorKind::INVALID_CONFIG, format!("format `{entry}` config: {e}")))?;
        if let Some(c) = cfg.fuzzy_cutoff {
            if !(0.0..=100.0).contains(&c) {
                return Err(PluginError::new(
                    ErrorKind::INVALID_CONFIG,
                    format!("format `{entry}` config: key `fuzzy_cutoff` must be in [0, 100], got {c}"),
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
            parse: ParseOptions { phrase_across_newline: self.phrase_across_newline },
            dequantize: match self.dequantize {
                DequantizeMode::F32 => Dequantize::F32,
                DequantizeMode::F64 => Dequantize::F64,
            },
            fuzzy_cutoff: self.fuzzy_cutoff,
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
