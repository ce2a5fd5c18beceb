//! Benchmarks of a model plugin through the ABI: training steps (forward, backward, optimizer
//! update) and generation, on seeded noise images and target texts of a chosen token length.
//! Every `train_step` returns its loss as a number, so each timed call ends synchronised.

use crate::{error::Result, plugins::Model};
use lmmrotate_abi::{abi_stable::std_types::RString, GenBatch, GenOptions, RgbImage, StepControl, TrainBatch};
use serde::Serialize;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub batch: usize,
    pub steps: usize,
    pub warmup: usize,
    pub seed: u64,
}

/// Times in milliseconds of the measured repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub median_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
    pub repetitions: usize,
}

fn timing(mut ms: Vec<f64>) -> Timing {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let q = |f: f64| ms[((ms.len() - 1) as f64 * f).round() as usize];
    Timing { median_ms: q(0.5), p10_ms: q(0.1), p90_ms: q(0.9), repetitions: ms.len() }
}

/// Images of noise (not all zeros: some kernels short-cut zeros), seeded.
pub fn noise_images(n: usize, w: u32, h: u32, seed: u64) -> Vec<RgbImage> {
    let mut s = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            let data: Vec<u8> = (0..(w * h * 3) as usize)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 24) as u8
                })
                .collect();
            RgbImage { width: w, height: h, data: data.into() }
        })
        .collect()
}

/// A Florence-2-style response of at least `tokens` tokens (class name, then quads of location
/// tokens separated by `<sep>`), measured with the model's own tokenizer.
pub fn target_of_length(model: &Model, tokens: u32) -> Result<String> {
    let mut text = String::from("plane");
    let mut k = 0u32;
    while model.count_tokens(&text)? < tokens {
        for _ in 0..8 {
            text.push_str(&format!("<loc_{}>", (k * 37) % 1000));
            k += 1;
        }
        text.push_str("<sep>");
    }
    Ok(text)
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub step: Timing,
    pub samples_per_second: f64,
    pub target_tokens: u32,
    pub final_loss: f64,
}

/// Training steps on noise images and a target of `target_tokens` tokens; `options` go to the
/// model's `configure_training` (e.g. `{"gradient_checkpointing": true}` for Florence-2).
pub fn bench_train(model: &mut Model, cfg: &BenchConfig, target_tokens: u32, prompt: &str, options: &serde_json::Value) -> Result<TrainBench> {
    let spec = model.info()?.image;
    let target = target_of_length(model, target_tokens)?;
    let measured = model.count_tokens(&target)?;
    let batch = TrainBatch {
        images: noise_images(cfg.batch, spec.width, spec.height, cfg.seed).into(),
        prompts: vec![RString::from(prompt); cfg.batch].into(),
        targets: vec![RString::from(target.as_str()); cfg.batch].into(),
    };
    model.configure_training(options)?;
    model.set_training(true)?;
    let control = StepControl { lr: 1e-6, loss_weight: 1.0, apply_update: true };
    let mut times = Vec::new();
    let mut loss = f64::NAN;
    for i in 0..cfg.warmup + cfg.steps {
        let t0 = Instant::now();
        loss = model.train_step(&batch, control)?.loss;
        if i >= cfg.warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    let step = timing(times);
    Ok(TrainBench { samples_per_second: cfg.batch as f64 / (step.median_ms / 1e3), step, target_tokens: measured, final_loss: loss })
}

#[derive(Debug, Clone, Serialize)]
pub struct GenerateBench {
    pub call: Timing,
    /// Median call time divided by the longest generated sequence.
    pub ms_per_token: f64,
    pub tokens: usize,
    pub images_per_second: f64,
}

pub fn bench_generate(model: &mut Model, cfg: &BenchConfig, beams: u32, new_tokens: u32, prompt: &str) -> Result<GenerateBench> {
    let spec = model.info()?.image;
    let batch = GenBatch {
        images: noise_images(cfg.batch, spec.width, spec.height, cfg.seed).into(),
        prompts: vec![RString::from(prompt); cfg.batch].into(),
    };
    let opts = GenOptions {
        num_beams: beams,
        max_new_tokens: new_tokens,
        no_repeat_ngram_size: 0,
        extra_json: serde_json::json!({"min_new_tokens": new_tokens}).to_string().into(),
        ..GenOptions::default()
    };
    model.set_training(false)?;
    let mut times = Vec::new();
    let mut tokens = 0;
    for i in 0..cfg.warmup + cfg.steps {
        let t0 = Instant::now();
        let out = model.generate(&batch, &opts)?;
        if i >= cfg.warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        tokens = out.iter().map(|g| g.ids.len().saturating_sub(1)).max().unwrap_or(0);
    }
    let call = timing(times);
    Ok(GenerateBench {
        ms_per_token: call.median_ms / tokens.max(1) as f64,
        images_per_second: cfg.batch as f64 / (call.median_ms / 1e3),
        tokens,
        call,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_small_list() {
        let t = timing(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((t.median_ms, t.p10_ms, t.p90_ms), (3.0, 1.0, 5.0));
    }

    #[test]
    fn noise_is_seeded_and_not_flat() {
        let a = noise_images(2, 4, 4, 1);
        assert_eq!(a, noise_images(2, 4, 4, 1));
        assert_ne!(a, noise_images(2, 4, 4, 2));
        assert!(a[0].data.iter().any(|&v| v != a[0].data[0]));
    }
}
