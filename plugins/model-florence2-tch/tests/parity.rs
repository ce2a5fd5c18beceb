//! Parity with HF transformers on the tiny golden model (tests/golden/tiny, made by
//! scripts/goldens/florence2_reference.py with transformers 5.17): the same weights in the native and
//! the original key layouts (safetensors, and an fp16 `pytorch_model.bin`), compared on image
//! features, encoder output, teacher-forced logits, and greedy and 3-beam generations.

use lmmrotate_model_florence2_tch::{
    checkpoint,
    config::Florence2Config,
    generate::{generate, GenerateOptions},
    model::Florence2,
};
use std::{collections::HashMap, path::PathBuf};
use tch::{nn, Device, Kind, Tensor};

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny")
}

fn reference() -> HashMap<String, Tensor> {
    Tensor::read_safetensors(golden().join("reference.safetensors")).unwrap().into_iter().collect()
}

fn load(layout: &str, kind: Kind) -> (nn::VarStore, Florence2) {
    let dir = golden().join(layout);
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let cfg = Florence2Config::from_hf_json(&cfg).unwrap();
    let w = checkpoint::read(&dir).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let m = Florence2::new(&vs.root(), &cfg, checkpoint::head_is_tied(&w));
    checkpoint::copy_into(&vs, &w, &dir).unwrap();
    if kind != Kind::Float {
        vs.set_kind(kind);
    }
    (vs, m)
}

/// max |a - b| / max |b|
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let a = a.to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    (a - &b).abs().max().double_value(&[]) / b.abs().max().double_value(&[])
}

fn check_forward(layout: &str, tol: f64) {
    let r = reference();
    let (_vs, m) = load(layout, Kind::Float);
    tch::no_grad(|| {
        let feats = m.image_features(&r["pixel_values"], false);
        let e = rel_err(&feats, &r["image_features"]);
        assert!(e < tol, "{layout}: image features rel err {e}");
        let enc = m.encode(&r["pixel_values"], &r["prompt_ids"], false);
        let e = rel_err(&enc, &r["encoder_out"]);
        assert!(e < tol, "{layout}: encoder rel err {e}");
        let logits = m.forward(&r["pixel_values"], &r["prompt_ids"], &r["decoder_ids"], false);
        let e = rel_err(&logits, &r["logits"]);
        assert!(e < tol, "{layout}: logits rel err {e}");
    });
}

#[test]
fn native_layout_matches_transformers_fp32() {
    check_forward("native", 1e-4);
}

#[test]
fn original_layout_matches_transformers_fp32() {
    check_forward("original", 1e-4);
}

#[test]
fn fp16_pytorch_bin_loads_and_matches_within_fp16_rounding() {
    // The weights were rounded to fp16 when saved; the computation runs in fp32.
    check_forward("original-bin", 2e-2);
}

fn reference_ids() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(golden().join("reference.json")).unwrap()).unwrap()
}

fn check_generation(beams: i64) {
    let r = reference();
    let expected = &reference_ids()[format!("beams{beams}")];
    let (_vs, m) = load("native", Kind::Float);
    let opts = GenerateOptions { num_beams: beams, max_length: 24, no_repeat_ngram_size: 3, ..GenerateOptions::florence2() };
    let out = tch::no_grad(|| generate(&m, &r["pixel_values"], &r["prompt_ids"], &opts));
    let want: Vec<Vec<i64>> = serde_json::from_value(expected.clone()).unwrap();
    assert_eq!(out, want, "{beams} beam(s)");
}

#[test]
fn greedy_generation_is_token_identical() {
    check_generation(1);
}

#[test]
fn beam_search_is_token_identical() {
    check_generation(3);
}

#[test]
fn wrong_checkpoint_names_key_and_shapes() {
    let dir = golden().join("native");
    let mut w = checkpoint::read(&dir).unwrap();
    w.remove("image_proj_norm.bias");
    w.insert("language_model.model.encoder.layers.0.fc1.weight".into(), Tensor::zeros([3, 3], (Kind::Float, Device::Cpu)));
    w.insert("bogus.weight".into(), Tensor::zeros([2], (Kind::Float, Device::Cpu)));
    let (vs, _m) = load("native", Kind::Float);
    let e = checkpoint::copy_into(&vs, &w, &dir).unwrap_err().to_string();
    assert!(e.contains("3 problem(s)"), "{e}");
    assert!(e.contains("missing key `image_proj_norm.bias` (expected shape [16])"), "{e}");
    assert!(e.contains("unexpected key `bogus.weight` [2]"), "{e}");
    assert!(
        e.contains("shape mismatch for `language_model.model.encoder.layers.0.fc1.weight`: checkpoint [3, 3], model expects [32, 16]"),
        "{e}"
    );
}

#[test]
fn truncated_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(golden().join("native/model.safetensors")).unwrap();
    std::fs::write(tmp.path().join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let e = checkpoint::read(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("model.safetensors: cannot read weights"), "{e}");
}
