//! Training parity with HF transformers on the tiny golden model: one step of LMMRotate's recipe
//! (mean token cross-entropy over shifted labels, AdamW) must give the loss, every parameter's
//! gradient and every updated weight that transformers + torch.optim.AdamW give
//! (tests/golden/tiny/train_reference.safetensors, from scripts/goldens/florence2_reference.py).

use lmmrotate_model_florence2_tch::{
    checkpoint,
    config::Florence2Config,
    model::Florence2,
    processor,
    train::{AdamW, TrainOptions},
};
use std::{collections::HashMap, path::PathBuf};
use tch::{nn, Device, Kind, Tensor};

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny")
}

/// max |a - b| / max |b| (0 when both are zero).
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
    let scale = b.abs().max().double_value(&[]);
    let d = (a - &b).abs().max().double_value(&[]);
    if scale == 0.0 {
        d
    } else {
        d / scale
    }
}

#[test]
fn one_training_step_matches_transformers_and_torch_adamw() {
    let r: HashMap<String, Tensor> =
        Tensor::read_safetensors(golden().join("train_reference.safetensors")).unwrap().into_iter().collect();
    let dir = golden().join("native");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let cfg = Florence2Config::from_hf_json(&cfg).unwrap();
    let w = checkpoint::read(&dir).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Florence2::new(&vs.root(), &cfg, checkpoint::head_is_tied(&w));
    checkpoint::copy_into(&vs, &w, &dir).unwrap();
    let mut opt = AdamW::new(&vs, TrainOptions::from_json("{}").unwrap(), None);

    // The plugin's target layout from the labels (upstream §4.5), then the plugin's loss.
    let labels: Vec<Vec<i64>> = Vec::<Vec<i64>>::try_from(&r["labels"]).unwrap();
    let t = &cfg.text;
    let inputs: Vec<Vec<i64>> = labels
        .iter()
        .map(|l| {
            let kept: Vec<i64> = l.iter().copied().filter(|&x| x != -100).collect();
            processor::targets(&kept[..kept.len() - 1], 64, t.bos_token_id, t.eos_token_id, t.decoder_start_token_id).0
        })
        .collect();
    let dec = processor::pad(&inputs, t.pad_token_id, Device::Cpu);
    let logits = m.forward(&r["pixel_values"], &r["prompt_ids"], &dec, false);
    let v = logits.size()[2];
    let loss = logits.reshape([-1, v]).cross_entropy_loss::<Tensor>(&r["labels"].reshape([-1]), None, tch::Reduction::Mean, -100, 0.0);
    let e = (loss.double_value(&[]) - r["loss"].double_value(&[0])).abs();
    assert!(e < 1e-5, "loss {} vs transformers {}", loss.double_value(&[]), r["loss"].double_value(&[0]));
    loss.backward();

    let vars = vs.variables();
    let mut checked = 0;
    // Gradients that are zero up to rounding (attention key biases: softmax ignores a shift of
    // every score) have no direction to compare, and AdamW turns their noise into ±lr steps.
    let mut noise = std::collections::HashSet::new();
    for (key, want) in &r {
        let Some(native) = key.strip_prefix("grad.") else { continue };
        let name = checkpoint::native_to_original(native).unwrap_or_else(|| panic!("no original key for {native}"));
        let var = &vars[&name];
        let got = var.grad();
        assert!(got.defined(), "{name} got no gradient");
        // The original layout stores the projection transposed.
        let got = if name == "image_projection" { got.tr() } else { got };
        if want.abs().max().double_value(&[]) < 1e-6 {
            let g = got.abs().max().double_value(&[]);
            assert!(g < 1e-5, "gradient of {name}: {g}, transformers' is zero up to rounding");
            noise.insert(name);
            continue;
        }
        let e = rel_err(&got, want);
        assert!(e < 1e-4, "gradient of {name}: rel err {e}");
        checked += 1;
    }
    assert!(checked > 200, "only {checked} gradients compared");

    opt.step(1e-2).unwrap();
    // AdamW's first step moves each weight by about lr · sign(gradient): compare where the
    // gradient is above rounding noise (there the sign is defined), to float precision.
    let mut moved = 0i64;
    for (key, want) in &r {
        let Some(native) = key.strip_prefix("after.") else { continue };
        let name = checkpoint::native_to_original(native).unwrap();
        if noise.contains(&name) {
            continue;
        }
        let got = &vars[&name];
        let got = if name == "image_projection" { got.tr() } else { got.shallow_clone() };
        let mask = r[&format!("grad.{native}")].abs().ge(1e-6);
        let d = ((got - want).abs() * mask.to_kind(Kind::Float)).max().double_value(&[]);
        assert!(d < 1e-5, "{name} after one AdamW step: max abs diff {d}");
        moved += mask.sum(Kind::Int64).int64_value(&[]);
    }
    assert!(moved > 10_000, "only {moved} updated weights compared");
}
