//! Parity with HF transformers 5.17 `PaliGemmaForConditionalGeneration` on the tiny golden model
//! (tests/golden/tiny, made by scripts/goldens/paligemma_reference.py): the processor's token
//! ids and labels, pixels, image features, teacher-forced logits and loss (fp32, CPU), batched
//! greedy generation from left-padded prompts, for the transformers-5 folder and the hub-layout
//! sharded folder; and batched beam search and n-gram-constrained greedy search (generate.json).

use candle_core::{DType, Device, Tensor};
use lmmrotate_abi::{abi_stable::std_types::RString, GenBatch, GenOptions, ModelPlugin, NullHost, RgbImage};
use lmmrotate_model_paligemma_candle::{
    checkpoint,
    generate::{generate, GenerateOptions},
    plugin::PaliGemmaPlugin,
    processor,
};
use std::{collections::HashMap, path::PathBuf};

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/tiny")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(golden().join("reference.safetensors"), &Device::Cpu).unwrap()
}

fn reference_json() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(golden().join("reference.json")).unwrap()).unwrap()
}

fn load(layout: &str) -> PaliGemmaPlugin {
    let cfg = serde_json::json!({"checkpoint": golden().join(layout), "device": "cpu", "max_text_len": 64});
    PaliGemmaPlugin::from_json(&cfg.to_string(), NullHost::boxed()).unwrap()
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

/// max |a − b| / max |b| over the elements where `keep` (same shape as a, b) is 1.
fn rel_err(a: &Tensor, b: &Tensor, keep: Option<&Tensor>) -> f64 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (a.to_dtype(DType::F64).unwrap(), b.to_dtype(DType::F64).unwrap());
    let (a, b) = match keep {
        Some(k) => {
            let k = k.to_dtype(DType::F64).unwrap();
            (a.broadcast_mul(&k).unwrap(), b.broadcast_mul(&k).unwrap())
        }
        None => (a, b),
    };
    let d = (a - &b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    d / b.abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap()
}

fn images(r: &HashMap<String, Tensor>) -> Vec<RgbImage> {
    let u8s = &r["images_u8"];
    let (b, h, w, _) = u8s.dims4().unwrap();
    (0..b)
        .map(|i| RgbImage {
            width: w as u32,
            height: h as u32,
            data: u8s.get(i).unwrap().flatten_all().unwrap().to_vec1::<u8>().unwrap().into(),
        })
        .collect()
}

fn check_forward(layout: &str) {
    let (r, j) = (reference(), reference_json());
    let p = load(layout);
    let m = p.model();

    // The processor's sequences: `<image>`×16 `<bos>` prompt `\n` target `<eos>`, right padded.
    let prompts = strs(&j["prompts"]);
    let targets = strs(&j["targets"]);
    let pr: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let tg: Vec<&str> = targets.iter().map(String::as_str).collect();
    let (rows, truncated) = p.train_rows(&pr, &tg).unwrap();
    assert_eq!(truncated, 0);
    let want_ids: Vec<Vec<u32>> = serde_json::from_value(j["train_input_ids"].clone()).unwrap();
    assert_eq!(rows.ids, want_ids, "{layout}: training ids");
    // Labels: transformers shifts them inside the loss, so position i predicts labels[i + 1].
    let labels: Vec<Vec<i64>> = serde_json::from_value(j["train_labels"].clone()).unwrap();
    for (row, lab) in rows.targets.iter().zip(&labels) {
        let shifted: Vec<Option<u32>> = (0..lab.len()).map(|i| lab.get(i + 1).filter(|&&l| l >= 0).map(|&l| l as u32)).collect();
        assert_eq!(row, &shifted, "{layout}: labels");
    }

    // Pixels from the u8 images, as SiglipImageProcessor normalises them.
    let px = processor::pixels(&images(&r), 32, p.image_norm(), &Device::Cpu, DType::F32).unwrap();
    assert!(rel_err(&px, &r["pixel_values"], None) < 1e-6, "{layout}: pixels");

    let feats = m.image_features(&r["pixel_values"]).unwrap();
    let e = rel_err(&feats, &r["image_features"], None);
    assert!(e < 1e-4, "{layout}: image features rel err {e}");

    // Padding positions are not compared: transformers' padding rows see other keys.
    let logits = m.forward(&r["pixel_values"], &rows).unwrap();
    let keep = r["attention_mask"].unsqueeze(2).unwrap();
    let e = rel_err(&logits, &r["logits"], Some(&keep));
    assert!(e < 1e-4, "{layout}: logits rel err {e}");

    let (loss, n) = m.suffix_loss(&r["pixel_values"], &rows).unwrap();
    let (a, b) = (loss.to_scalar::<f32>().unwrap() as f64, r["loss"].to_vec1::<f32>().unwrap()[0] as f64);
    assert_eq!(n, labels.iter().flatten().filter(|&&l| l >= 0).count());
    assert!(((a - b) / b).abs() < 1e-4, "{layout}: loss {a} vs {b}");
}

#[test]
fn transformers5_folder_matches_transformers_fp32() {
    check_forward("native");
}

#[test]
fn hub_layout_sharded_folder_matches_transformers_fp32() {
    check_forward("original");
}

#[test]
fn greedy_generation_is_token_identical() {
    let (r, j) = (reference(), reference_json());
    let p = load("native");
    let prompts = strs(&j["gen_prompts"]);
    let pr: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let rows = p.gen_rows(&pr).unwrap();
    let want_ids: Vec<Vec<u32>> = serde_json::from_value(j["gen_input_ids"].clone()).unwrap();
    assert_eq!(rows.ids, want_ids, "left-padded prompts");
    let want: Vec<Vec<u32>> = serde_json::from_value(j["greedy"].clone()).unwrap();
    let max_new = j["max_new_tokens"].as_u64().unwrap() as usize;
    let out = generate(p.model(), &r["pixel_values"], &rows, &GenerateOptions::greedy(max_new, 1)).unwrap();
    assert_eq!(out, want);

    // The same through the plugin API, from the u8 images.
    let mut p = p;
    let batch = GenBatch { images: images(&r).into(), prompts: prompts.iter().map(|s| RString::from(s.as_str())).collect() };
    let opts = GenOptions { num_beams: 1, max_new_tokens: max_new as u32, no_repeat_ngram_size: 0, ..GenOptions::default() };
    let gens = p.generate(&batch, &opts).unwrap();
    let ids: Vec<Vec<u32>> = gens.iter().map(|g| g.ids.to_vec()).collect();
    assert_eq!(ids, want);
    let texts = strs(&j["greedy_text"]);
    for (g, t) in gens.iter().zip(&texts) {
        assert_eq!(g.text.as_str(), t);
    }
}

#[test]
fn beam_search_and_ngram_constraints_are_token_identical() {
    let r = reference();
    let g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(golden().join("generate.json")).unwrap()).unwrap();
    let mut p = load("native");
    let prompts = strs(&g["prompts"]);
    let pr: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let rows = p.gen_rows(&pr).unwrap();
    let cases = g["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    let mut finished_early = false;
    for case in cases {
        let opts = GenerateOptions {
            num_beams: case["num_beams"].as_u64().unwrap() as usize,
            max_new_tokens: case["max_new_tokens"].as_u64().unwrap() as usize,
            no_repeat_ngram_size: case["no_repeat_ngram_size"].as_u64().unwrap() as usize,
            length_penalty: case["length_penalty"].as_f64().unwrap(),
            early_stopping: case["early_stopping"].as_bool().unwrap(),
            eos_token_id: case["eos_token_id"].as_u64().unwrap() as u32,
        };
        let want: Vec<Vec<u32>> = serde_json::from_value(case["ids"].clone()).unwrap();
        let got = generate(p.model(), &r["pixel_values"], &rows, &opts).unwrap();
        assert_eq!(got, want, "{opts:?}");
        finished_early |= want.iter().any(|w| w.len() < opts.max_new_tokens);
    }
    // Some hypotheses end at eos, so finishing and length normalisation are exercised.
    assert!(finished_early);

    // The first case (3 beams, no_repeat_ngram_size 3: LMMRotate's settings) through the plugin API.
    let case = &cases[0];
    assert_eq!(case["eos_token_id"], 1);
    let batch = GenBatch { images: images(&r).into(), prompts: prompts.iter().map(|s| RString::from(s.as_str())).collect() };
    let opts = GenOptions { num_beams: 3, max_new_tokens: 12, no_repeat_ngram_size: 3, ..GenOptions::default() };
    let ids: Vec<Vec<u32>> = p.generate(&batch, &opts).unwrap().iter().map(|g| g.ids.to_vec()).collect();
    assert_eq!(ids, serde_json::from_value::<Vec<Vec<u32>>>(case["ids"].clone()).unwrap());
}

#[test]
fn wrong_checkpoint_names_key_and_shapes() {
    let dir = golden().join("original");
    let mut w = checkpoint::read(&dir).unwrap();
    w.remove("multi_modal_projector.linear.bias");
    w.insert("language_model.model.layers.0.mlp.up_proj.weight".into(), Tensor::zeros((3, 3), DType::F32, &Device::Cpu).unwrap());
    w.insert("bogus.weight".into(), Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap());
    let p = load("original");
    let vars = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
    let _m = lmmrotate_model_paligemma_candle::model::PaliGemma::new(&p.model().cfg, vb, None).unwrap();
    let e = checkpoint::copy_into(&vars, &w, &dir).unwrap_err().to_string();
    assert!(e.contains("3 problem(s)"), "{e}");
    assert!(e.contains("missing key `multi_modal_projector.linear.bias` (expected shape [32])"), "{e}");
    assert!(e.contains("unexpected key `bogus.weight` [2]"), "{e}");
    assert!(
        e.contains("shape mismatch for `language_model.model.layers.0.mlp.up_proj.weight`: checkpoint [3, 3], model expects [64, 32]"),
        "{e}"
    );
}

#[test]
fn truncated_or_missing_shards_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(golden().join("native/model.safetensors")).unwrap();
    std::fs::write(tmp.path().join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let e = checkpoint::read(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("model.safetensors: cannot read weights"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(golden().join("original/model.safetensors.index.json"), tmp.path().join("model.safetensors.index.json")).unwrap();
    let e = checkpoint::read(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("model-00001-of-00002.safetensors: listed in model.safetensors.index.json but missing"), "{e}");
}
