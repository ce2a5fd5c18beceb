//! What the plugin-level tests share: the tiny golden checkpoint, two images, a training batch.
#![allow(dead_code)]

use lmmrotate_abi::{abi_stable::std_types::RString, GenBatch, GenOptions, NullHost, RgbImage, StepControl, TrainBatch};
use lmmrotate_model_paligemma_candle::plugin::PaliGemmaPlugin;
use std::path::{Path, PathBuf};

pub fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny")
}

/// The plugin on a checkpoint folder (CPU, fp32), with further config keys from `extra`.
pub fn plugin_with(checkpoint: &Path, extra: serde_json::Value) -> PaliGemmaPlugin {
    let mut cfg = serde_json::json!({"checkpoint": checkpoint, "device": "cpu", "max_text_len": 48});
    for (k, v) in extra.as_object().expect("object") {
        cfg[k] = v.clone();
    }
    PaliGemmaPlugin::from_json(&cfg.to_string(), NullHost::boxed()).unwrap()
}

pub fn plugin_at(checkpoint: &Path) -> PaliGemmaPlugin {
    plugin_with(checkpoint, serde_json::json!({}))
}

/// Two deterministic 32×32 images: a bright rectangle on dark ground at different places.
pub fn images() -> Vec<RgbImage> {
    (0..2)
        .map(|k| {
            let mut data = vec![30u8; 32 * 32 * 3];
            for y in 4 + 10 * k..14 + 10 * k {
                for x in 6..26 {
                    let i = (y * 32 + x) * 3;
                    data[i..i + 3].copy_from_slice(&[220, 200 - 80 * k as u8, 60]);
                }
            }
            RgbImage { width: 32, height: 32, data: data.into() }
        })
        .collect()
}

/// Two rows whose targets have the same number of tokens (10 each, `<eos>` included).
pub fn batch() -> TrainBatch {
    TrainBatch {
        images: images().into(),
        prompts: vec![RString::from("detect quad"); 2].into(),
        targets: vec![
            RString::from("<loc0128><loc0192><loc0448><loc0192><loc0448><loc0832><loc0128><loc0832> plane"),
            RString::from("<loc0448><loc0192><loc0768><loc0192><loc0768><loc0832><loc0448><loc0832> ship"),
        ]
        .into(),
    }
}

/// Row `i` of [`batch`] alone.
pub fn row(i: usize) -> TrainBatch {
    let b = batch();
    TrainBatch {
        images: vec![b.images[i].clone()].into(),
        prompts: vec![b.prompts[i].clone()].into(),
        targets: vec![b.targets[i].clone()].into(),
    }
}

pub fn step(lr: f64) -> StepControl {
    StepControl { lr, loss_weight: 1.0, apply_update: true }
}

pub fn gen_batch() -> GenBatch {
    GenBatch { images: images().into(), prompts: vec![RString::from("detect quad"); 2].into() }
}

pub fn greedy(n: u32) -> GenOptions {
    GenOptions { num_beams: 1, max_new_tokens: n, ..GenOptions::default() }
}

/// Every tensor of a safetensors file as f32 values, by name.
pub fn tensors(file: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    candle_core::safetensors::load(file, &candle_core::Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, t.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap()))
        .collect()
}

/// Largest absolute difference between two sets of tensors with the same names.
pub fn max_diff(a: &std::collections::BTreeMap<String, Vec<f32>>, b: &std::collections::BTreeMap<String, Vec<f32>>) -> f32 {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.iter().flat_map(|(k, x)| x.iter().zip(&b[k]).map(|(p, q)| (p - q).abs())).fold(0.0, f32::max)
}
