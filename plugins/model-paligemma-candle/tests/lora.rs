//! LoRA on the tiny golden model through the plugin API: only adapters train (the base weights
//! stay bit-identical, in memory and on disk), the loss goes down, a checkpoint resumes exactly,
//! and opening it without the `lora` option merges the adapters.

mod common;

use common::*;
use lmmrotate_abi::ModelPlugin;
use lmmrotate_model_paligemma_candle::checkpoint;

fn lora() -> serde_json::Value {
    serde_json::json!({"lora": {"rank": 4, "alpha": 8.0, "seed": 3}})
}

/// The base weights held by the plugin, by name.
fn base_weights(p: &lmmrotate_model_paligemma_candle::plugin::PaliGemmaPlugin) -> std::collections::BTreeMap<String, Vec<f32>> {
    let data = p.weights().data().lock().unwrap();
    data.iter().map(|(k, v)| (k.clone(), v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())).collect()
}

#[test]
fn adapters_train_and_the_base_does_not_change() {
    let golden_dir = golden().join("native");
    let mut p = plugin_with(&golden_dir, lora());
    let before = base_weights(&p);
    let first = p.train_step(&batch(), step(1e-2)).unwrap();
    assert!(first.grad_norm.is_some());
    let mut last = first.loss;
    for _ in 0..20 {
        last = p.train_step(&batch(), step(1e-2)).unwrap().loss;
    }
    assert!(last < 0.7 * first.loss, "loss {} -> {last}", first.loss);
    assert_eq!(max_diff(&before, &base_weights(&p)), 0.0, "base weights changed in memory");

    let dir = tempfile::tempdir().unwrap();
    p.save(dir.path().to_str().unwrap()).unwrap();
    for f in ["model.safetensors", "adapter_model.safetensors", "adapter_config.json", "optimizer.safetensors"] {
        assert!(dir.path().join(f).is_file(), "{f} not written");
    }
    // The saved base is the golden checkpoint's weights, bit for bit.
    let golden_w = checkpoint::read(&golden_dir).unwrap();
    let saved_w = checkpoint::read(dir.path()).unwrap();
    assert_eq!(golden_w.len(), saved_w.len());
    for (k, t) in &golden_w {
        let (a, b): (Vec<f32>, Vec<f32>) = (t.flatten_all().unwrap().to_vec1().unwrap(), saved_w[k].flatten_all().unwrap().to_vec1().unwrap());
        assert!(a == b, "{k} differs from the base checkpoint");
    }
    // Only adapters are trained and saved: 2 layers × 4 modules × (A, B), B moved off zero.
    let adapters = tensors(&dir.path().join("adapter_model.safetensors"));
    assert_eq!(adapters.len(), 16, "{:?}", adapters.keys());
    let b = &adapters["base_model.model.model.language_model.layers.1.self_attn.v_proj.lora_B.weight"];
    assert!(b.iter().any(|v| v.abs() > 1e-4));
    let optimizer = tensors(&dir.path().join("optimizer.safetensors"));
    assert_eq!(optimizer.len(), 3 * 16, "moments and master copies of the adapters only");
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((cfg["peft_type"].as_str(), cfg["r"].as_u64(), cfg["lora_alpha"].as_f64()), (Some("LORA"), Some(4), Some(8.0)));
}

#[test]
fn a_lora_checkpoint_resumes_exactly_and_merges_without_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let mut a = plugin_with(&golden().join("native"), lora());
    for _ in 0..3 {
        a.train_step(&batch(), step(1e-2)).unwrap();
    }
    a.save(path).unwrap();
    let generated = a.generate(&gen_batch(), &greedy(8)).unwrap();
    let cont_a: Vec<f64> = (0..2).map(|_| a.train_step(&batch(), step(1e-2)).unwrap().loss).collect();

    let mut b = plugin_with(dir.path(), lora());
    b.load_training_state(path).unwrap();
    let cont_b: Vec<f64> = (0..2).map(|_| b.train_step(&batch(), step(1e-2)).unwrap().loss).collect();
    assert_eq!(cont_a, cont_b, "resumed losses");

    // Opened for inference (no `lora`): the adapters are merged into the weights.
    let mut m = plugin_at(dir.path());
    assert_eq!(m.generate(&gen_batch(), &greedy(8)).unwrap(), generated);
    let plain = plugin_at(&golden().join("native"));
    assert!(max_diff(&base_weights(&plain), &base_weights(&m)) > 1e-4, "merging changed the weights");
    // Without adapters the base model generates something else.
    let mut base = plugin_at(&golden().join("native"));
    assert_ne!(base.generate(&gen_batch(), &greedy(8)).unwrap(), generated);
}

#[test]
fn adapters_of_another_shape_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = plugin_with(&golden().join("native"), lora());
    a.save(dir.path().to_str().unwrap()).unwrap();
    let cfg = serde_json::json!({"checkpoint": dir.path(), "device": "cpu", "lora": {"rank": 2}});
    let e = lmmrotate_model_paligemma_candle::plugin::PaliGemmaPlugin::from_json(&cfg.to_string(), lmmrotate_abi::NullHost::boxed())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("adapter_config.json: adapters of rank 4, alpha 8") && e.contains("asks for rank 2"), "{e}");
    let mut p = plugin_with(&golden().join("native"), lora());
    let e = p.configure_training(r#"{"freeze": ["vision"]}"#).unwrap_err().to_string();
    assert!(e.contains("with `lora`"), "{e}");
}
