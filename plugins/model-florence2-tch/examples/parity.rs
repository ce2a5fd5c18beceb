//! Parity of the Rust Florence-2 with HF transformers on a reference folder made by
//! scripts/goldens/florence2_reference.py (`native/` weights, `reference.safetensors`,
//! `reference.json`), on CPU or CUDA in fp32. Prints one JSON object with the maximum relative
//! errors and whether the generations are token-identical.
//!
//! cargo run --release -p lmmrotate-model-florence2-tch --example parity -- DIR [cpu|cuda]

use lmmrotate_model_florence2_tch::{
    checkpoint,
    config::Florence2Config,
    generate::{generate, GenerateOptions},
    model::Florence2,
};
use std::{collections::HashMap, path::PathBuf, time::Instant};
use tch::{nn, Device, Kind, Tensor};

fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_device(Device::Cpu).to_kind(Kind::Double);
    let b = b.to_kind(Kind::Double);
    (a - &b).abs().max().double_value(&[]) / b.abs().max().double_value(&[])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: parity DIR [cpu|cuda]"));
    let device = match args.get(2).map(String::as_str) {
        Some("cuda") => Device::Cuda(0),
        _ => Device::Cpu,
    };
    let native = dir.join("native");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(native.join("config.json")).unwrap()).unwrap();
    let cfg = Florence2Config::from_hf_json(&cfg).unwrap();
    let w = checkpoint::read(&native).unwrap();
    let vs = nn::VarStore::new(device);
    let m = Florence2::new(&vs.root(), &cfg, checkpoint::head_is_tied(&w));
    checkpoint::copy_into(&vs, &w, &native).unwrap();
    // HF's outputs computed on the same kind of device (reference-cuda.* holds the GPU's numerics).
    let suffix = if device.is_cuda() && dir.join("reference-cuda.json").exists() { "-cuda" } else { "" };
    let r: HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.join(format!("reference{suffix}.safetensors"))).unwrap().into_iter().collect();
    let on = |k: &str| r[k].to_device(device);
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(format!("reference{suffix}.json"))).unwrap()).unwrap();
    let max_length = reference["max_length"].as_i64().unwrap();

    let t0 = Instant::now();
    let (feats, enc, logits) = tch::no_grad(|| {
        let feats = m.image_features(&on("pixel_values"), false);
        let enc = m.encode(&on("pixel_values"), &on("prompt_ids"), false);
        let logits = m.forward(&on("pixel_values"), &on("prompt_ids"), &on("decoder_ids"), false);
        (feats, enc, logits)
    });
    let mut out = serde_json::json!({
        "device": format!("{device:?}"),
        "reference": format!("reference{suffix}"),
        "image_features_rel_err": rel_err(&feats, &r["image_features"]),
        "encoder_rel_err": rel_err(&enc, &r["encoder_out"]),
        "logits_rel_err": rel_err(&logits, &r["logits"]),
        "forward_seconds": t0.elapsed().as_secs_f64(),
    });
    for beams in [1i64, 3] {
        let opts = GenerateOptions { num_beams: beams, max_length, ..GenerateOptions::florence2() };
        let got = tch::no_grad(|| generate(&m, &on("pixel_values"), &on("prompt_ids"), &opts));
        let want: Vec<Vec<i64>> = serde_json::from_value(reference[format!("beams{beams}")].clone()).unwrap();
        // HF pads finished rows with <pad> to the longest row; ours stop at </s>.
        let want: Vec<Vec<i64>> = want
            .into_iter()
            .map(|row| match row.iter().skip(1).position(|&t| t == 2) {
                Some(p) => row[..p + 2].to_vec(),
                None => row,
            })
            .collect();
        out[format!("beams{beams}_identical")] = (got == want).into();
        out[format!("beams{beams}_rust")] = serde_json::json!(got);
    }
    println!("{out}");
}
