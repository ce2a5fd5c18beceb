//! The `paligemma` entry through its plugin API, in process: full fine-tuning of the tiny golden
//! model lowers the loss; gradient accumulation; save → load → resume gives the same weights,
//! outputs and optimizer trajectory; bad configs are clear errors.

mod common;

use common::*;
use lmmrotate_abi::{ModelPlugin, NullHost, PluginKind, StepControl};
use lmmrotate_model_paligemma_candle::plugin::PaliGemmaPlugin;

#[test]
fn the_entry_is_registered() {
    assert!(lmmrotate_abi::plugin::find(PluginKind::Model, "paligemma").is_some());
}

#[test]
fn training_lowers_the_loss() {
    let mut p = plugin_at(&golden().join("native"));
    p.set_training(true).unwrap();
    let first = p.train_step(&batch(), step(3e-3)).unwrap();
    // Every suffix token is predicted (the first from the "\n" position): 8 locations, the class
    // word, <eos> per row.
    assert_eq!(first.target_tokens, 20);
    assert!(first.grad_norm.is_some());
    let mut last = first.loss;
    for _ in 0..15 {
        last = p.train_step(&batch(), step(3e-3)).unwrap().loss;
    }
    assert!(last < 0.5 * first.loss, "loss {} -> {last}", first.loss);
}

#[test]
fn accumulated_half_batches_update_like_the_full_batch() {
    // The loss is a mean over target tokens and both rows have 10, so two half-weight
    // micro-batches of one row give the full batch's gradient.
    let mut full = plugin_at(&golden().join("native"));
    full.train_step(&batch(), step(1e-3)).unwrap();
    let mut acc = plugin_at(&golden().join("native"));
    for i in 0..2 {
        let s = acc.train_step(&row(i), StepControl { lr: 1e-3, loss_weight: 0.5, apply_update: i == 1 }).unwrap();
        assert_eq!(s.grad_norm.is_some(), i == 1);
    }
    let (a, f) = (acc.train_step(&batch(), step(0.0)).unwrap().loss, full.train_step(&batch(), step(0.0)).unwrap().loss);
    assert!((a - f).abs() < 1e-4, "{a} vs {f}");
}

#[test]
fn save_load_resume_reproduces_weights_outputs_and_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = plugin_at(&golden().join("original"));
    for _ in 0..3 {
        a.train_step(&batch(), step(1e-3)).unwrap();
    }
    a.save(dir.path().to_str().unwrap()).unwrap();
    for f in ["model.safetensors", "config.json", "tokenizer.json", "preprocessor_config.json", "optimizer.safetensors", "optimizer.json"] {
        assert!(dir.path().join(f).is_file(), "{f} not written");
    }
    let before = a.generate(&gen_batch(), &greedy(6)).unwrap();
    let cont_a: Vec<f64> = (0..2).map(|_| a.train_step(&batch(), step(1e-3)).unwrap().loss).collect();

    let mut b = plugin_at(dir.path());
    assert_eq!(b.generate(&gen_batch(), &greedy(6)).unwrap(), before, "reloaded model generates the same");
    b.load_training_state(dir.path().to_str().unwrap()).unwrap();
    let cont_b: Vec<f64> = (0..2).map(|_| b.train_step(&batch(), step(1e-3)).unwrap().loss).collect();
    for (x, y) in cont_a.iter().zip(&cont_b) {
        assert!((x - y).abs() < 1e-5, "resumed losses {cont_b:?} vs {cont_a:?}");
    }
    // Without the optimizer state the trajectory differs (fresh moments): the restore mattered.
    let mut c = plugin_at(dir.path());
    let cont_c: Vec<f64> = (0..2).map(|_| c.train_step(&batch(), step(1e-3)).unwrap().loss).collect();
    assert!((cont_c[1] - cont_a[1]).abs() > 1e-5, "{cont_c:?} vs {cont_a:?}");
}

#[test]
fn bad_configs_are_clear_errors() {
    let e = |v: serde_json::Value| PaliGemmaPlugin::from_json(&v.to_string(), NullHost::boxed()).err().unwrap().to_string();
    assert!(e(serde_json::json!({"device": "cpu"})).contains("give `checkpoint`"));
    assert!(e(serde_json::json!({"checkpoint": "/nonexistent/dir"})).contains("/nonexistent/dir/config.json"));
    assert!(e(serde_json::json!({"variant": "huge", "tokenizer": golden().join("native")})).contains("unknown variant `huge`"));
    assert!(e(serde_json::json!({"checkpoint": golden().join("native"), "image_size": 224})).contains("image_size 224 differs"));
    assert!(e(serde_json::json!({"checkpoint": golden().join("native"), "dtype": "f64"})).contains("unknown variant `f64`"));
}

#[test]
fn random_variant_is_seeded() {
    let cfg = |seed: u64| serde_json::json!({"variant": "tiny", "tokenizer": golden().join("native"), "device": "cpu", "seed": seed});
    let gen = |seed| {
        let mut p = PaliGemmaPlugin::from_json(&cfg(seed).to_string(), NullHost::boxed()).unwrap();
        assert_eq!(p.info().unwrap().image.width, 32);
        p.generate(&gen_batch(), &greedy(4)).unwrap()
    };
    assert_eq!(gen(3), gen(3));
    assert_ne!(gen(3), gen(4), "the seed is used");
}

#[test]
fn bf16_trains_through_fp32_master_weights() {
    let cfg = serde_json::json!({"checkpoint": golden().join("native"), "device": "cpu", "dtype": "bf16"});
    let mut p = PaliGemmaPlugin::from_json(&cfg.to_string(), NullHost::boxed()).unwrap();
    let first = p.train_step(&batch(), step(3e-3)).unwrap().loss;
    let mut last = first;
    for _ in 0..5 {
        last = p.train_step(&batch(), step(3e-3)).unwrap().loss;
    }
    assert!(first.is_finite() && last < first, "bf16 loss {first} -> {last}");
    assert_eq!(p.generate(&gen_batch(), &greedy(3)).unwrap().len(), 2);
}
