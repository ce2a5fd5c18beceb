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

/// libtorch's default generator is global (building a model draws its initial weights, dropout
/// draws masks, recomputation sets its state in the backward pass): these tests run one at a
/// time, as the plugin's steps do under its lock.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

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

struct Golden {
    r: HashMap<String, Tensor>,
    cfg: Florence2Config,
    vs: nn::VarStore,
    model: Florence2,
    dec: Tensor,
}

/// The tiny golden model and the plugin's decoder inputs for the reference batch.
fn golden_model(edit: impl FnOnce(&mut Florence2Config)) -> Golden {
    let r: HashMap<String, Tensor> =
        Tensor::read_safetensors(golden().join("train_reference.safetensors")).unwrap().into_iter().collect();
    let dir = golden().join("native");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut cfg = Florence2Config::from_hf_json(&cfg).unwrap();
    edit(&mut cfg);
    let w = checkpoint::read(&dir).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Florence2::new(&vs.root(), &cfg, checkpoint::head_is_tied(&w));
    checkpoint::copy_into(&vs, &w, &dir).unwrap();
    // The plugin's target layout from the labels (upstream §4.5).
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
    Golden { r, cfg, vs, model, dec }
}

impl Golden {
    /// The plugin's loss of the reference batch, back-propagated.
    fn loss_backward(&self, train: bool) -> f64 {
        let logits = self.model.forward(&self.r["pixel_values"], &self.r["prompt_ids"], &self.dec, train);
        let v = logits.size()[2];
        let loss = logits.reshape([-1, v]).cross_entropy_loss::<Tensor>(&self.r["labels"].reshape([-1]), None, tch::Reduction::Mean, -100, 0.0);
        loss.backward();
        loss.double_value(&[])
    }

    /// Every gradient against transformers'; returns the variables whose reference gradient is
    /// zero up to rounding (attention key biases: softmax ignores a shift of every score).
    fn check_gradients(&self) -> std::collections::HashSet<String> {
        let vars = self.vs.variables();
        let mut checked = 0;
        let mut noise = std::collections::HashSet::new();
        for (key, want) in &self.r {
            let Some(native) = key.strip_prefix("grad.") else { continue };
            let name = checkpoint::native_to_original(native).unwrap_or_else(|| panic!("no original key for {native}"));
            let got = vars[&name].grad();
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
        noise
    }
}

#[test]
fn one_training_step_matches_transformers_and_torch_adamw() {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    let g = golden_model(|_| {});
    let mut opt = AdamW::new(&g.vs, TrainOptions::from_json("{}").unwrap(), None);
    let loss = g.loss_backward(false);
    let want = g.r["loss"].double_value(&[0]);
    assert!((loss - want).abs() < 1e-5, "loss {loss} vs transformers {want}");
    let noise = g.check_gradients();
    let (r, vars) = (&g.r, g.vs.variables());

    opt.step(1e-2).unwrap();
    // AdamW's first step moves each weight by about lr · sign(gradient): compare where the
    // gradient is above rounding noise (there the sign is defined), to float precision.
    let mut moved = 0i64;
    for (key, want) in r {
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

/// Gradient checkpointing (activations recomputed in the backward pass) in training mode, with
/// dropout and drop-path off so that the reference (an evaluation-mode backward in transformers)
/// applies: every gradient must still match transformers'.
#[test]
fn checkpointed_training_gradients_match_transformers() {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    let mut g = golden_model(|c| {
        c.text.dropout = 0.0;
        c.text.attention_dropout = 0.0;
        c.text.activation_dropout = 0.0;
        c.vision.drop_path_rate = 0.0;
    });
    g.model.set_recompute(true);
    let loss = g.loss_backward(true);
    let want = g.r["loss"].double_value(&[0]);
    assert!((loss - want).abs() < 1e-5, "loss {loss} vs transformers {want}");
    g.check_gradients();
}

/// With dropout and drop-path on, the recomputation must draw the forward pass's masks: the
/// checkpointed gradients equal the plain ones from the same seed (and differ from another seed's).
#[test]
fn checkpointing_replays_dropout_exactly() {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    let run = |recompute: bool, seed: i64| {
        let mut g = golden_model(|_| {});
        assert!(g.cfg.text.dropout > 0.0 && g.cfg.vision.drop_path_rate > 0.0, "the golden config has dropout");
        g.model.set_recompute(recompute);
        tch::manual_seed(seed);
        let loss = g.loss_backward(true);
        let mut grads: Vec<(String, Tensor)> = g.vs.variables().into_iter().map(|(k, v)| (k, v.grad())).collect();
        grads.sort_by(|a, b| a.0.cmp(&b.0));
        (loss, grads)
    };
    let (l0, plain) = run(false, 5);
    let (l1, ckpt) = run(true, 5);
    let (l2, other) = run(false, 6);
    assert_eq!(l0, l1, "the forward pass is the same");
    assert_ne!(l0, l2, "another seed draws other masks");
    let mut compared = 0;
    for ((name, a), (_, b)) in plain.iter().zip(&ckpt) {
        if !a.defined() {
            assert!(!b.defined(), "{name}: gradient only with checkpointing");
            continue;
        }
        let e = rel_err(b, a);
        assert!(e < 1e-5, "gradient of {name}: rel err {e} between checkpointed and plain");
        compared += 1;
    }
    assert!(compared > 200, "only {compared} gradients compared");
    let differs = plain.iter().zip(&other).any(|((_, a), (_, b))| a.defined() && rel_err(b, a) > 1e-3);
    assert!(differs, "dropout had no effect on the gradients");
}
