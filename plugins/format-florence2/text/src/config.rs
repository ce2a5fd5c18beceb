//! Config pieces both format plugins take: the quantisation arithmetic of the encoder and
//! decoder, the fuzzy cut-off, and parsing a JSON config with errors naming the entry.

use crate::{decode::Dequantize, DecodeOptions};
use lmmrotate_abi::{ErrorKind, PluginError};
use lmmrotate_geometry::quantize::Precision;
use serde::{de::DeserializeOwned, Deserialize};

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

impl Quantize {
    pub fn precision(self) -> Precision {
        match self {
            Quantize::F32 => Precision::F32,
            Quantize::F64 => Precision::F64,
        }
    }
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

impl DequantizeMode {
    pub fn dequantize(self) -> Dequantize {
        match self {
            DequantizeMode::F32 => Dequantize::F32,
            DequantizeMode::F64 => Dequantize::F64,
        }
    }
}

/// Decode options from the shared keys (the parse options stay upstream's unless set after).
pub fn decode_options(dequantize: DequantizeMode, fuzzy_cutoff: Option<f64>) -> DecodeOptions {
    DecodeOptions { dequantize: dequantize.dequantize(), fuzzy_cutoff, ..DecodeOptions::default() }
}

/// Parses the config of format entry `entry` (an empty string means `{}`) and checks
/// `fuzzy_cutoff` (given by `cutoff`) is in [0, 100].
pub fn parse_config<T: DeserializeOwned>(entry: &str, json: &str, cutoff: impl Fn(&T) -> Option<f64>) -> Result<T, PluginError> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let cfg: T = serde_json::from_str(json)
        .map_err(|e| PluginError::new(ErrorKind::INVALID_CONFIG, format!("format `{entry}` config: {e}")))?;
    if let Some(c) = cutoff(&cfg) {
        if !(0.0..=100.0).contains(&c) {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("format `{entry}` config: key `fuzzy_cutoff` must be in [0, 100], got {c}"),
            ));
        }
    }
    Ok(cfg)
}
