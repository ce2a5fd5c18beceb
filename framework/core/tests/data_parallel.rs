//! Data-parallel training through the in-process communicator: ranks as threads, each with its
//! own tiny Florence-2 from the real plugin library, must end with the same weights as one
//! process that trains on the combined batch.

use lmmrotate_core::{
    data,
    train::{self, schedule::Schedule, TrainConfig, TrainSample},
    Plugins, Registry, TerminalHost,
};
use lmmrotate_dist::{LocalGroup, ProcessGroup};
use lmmrotate_testkit as tk;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// The plugins of the registry in `dir` (written once by the test, before any rank starts: ranks
/// writing it concurrently would read each other's half-written file).
fn plugins(dir: &Path) -> Plugins {
    Plugins::new(Registry::load(&dir.join("registry.toml"), None).unwrap(), TerminalHost::new("test", false))
}

/// Four images with one `plane` each at different places: every target has the same number of
/// tokens, so the mean loss of a batch of two is the mean of the two images' losses.
fn dataset(dir: &Path) -> PathBuf {
    let root = dir.join("data");
    for i in 0..4u32 {
        let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4 + i * 50) as u8, (y * 4) as u8, (i * 60) as u8]));
        std::fs::create_dir_all(root.join("images")).unwrap();
        img.save(root.join(format!("images/p{i}.png"))).unwrap();
        let (x, y) = (8 + 10 * i, 30 - 5 * i);
        tk::write_file(
            &root.join(format!("annfiles/p{i}.txt")),
            format!("{x} {y} {} {y} {} {} {x} {} plane 0\n", x + 20, x + 20, y + 12, y + 12),
        );
    }
    root
}

/// Tensors of a safetensors file (f32 only), by name.
fn read_f32(path: &Path) -> BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out = BTreeMap::new();
    for (name, info) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        assert_eq!(info["dtype"], "F32", "{name}");
        let [a, b] = [0, 1].map(|i| info["data_offsets"][i].as_u64().unwrap() as usize);
        out.insert(name.clone(), data[a..b].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect());
    }
    out
}

fn config(out: &Path, batch: usize) -> TrainConfig {
    TrainConfig {
        output_dir: out.to_path_buf(),
        max_steps: Some(4),
        batch_size: batch,
        grad_accum: 1,
        lr: 1e-3,
        warmup_ratio: 0.0,
        schedule: Schedule::Constant,
        save_steps: 1000,
        // A large epsilon keeps AdamW from turning rounding noise in near-zero gradients (whose
        // sign differs between a sum over ranks and a sum over a batch) into full-size steps.
        model_options: serde_json::json!({"eps": 1e-2}),
        prompt: "<ROD>".into(),
        ..TrainConfig::default()
    }
}

fn run(dir: &Path, init: &Path, samples: &[TrainSample], cfg: &TrainConfig, group: Option<&std::sync::Arc<ProcessGroup>>) {
    let p = plugins(dir);
    let open = |ckpt: Option<&Path>| {
        let c = ckpt.unwrap_or(init).display().to_string();
        p.model("florence2", &serde_json::json!({"checkpoint": c, "variant": null, "tokenizer": null}))
    };
    train::train(&open, samples, cfg, p.host(), group).unwrap();
}

#[test]
fn two_ranks_equal_one_process_with_the_combined_batch() {
    if !tk::has_libtorch() {
        return;
    }
    tk::build(&["lmmrotate-model-florence2-tch", "lmmrotate-format-florence2", "lmmrotate-dataset-dota"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tk::write_registry(dir, &tk::tiny_florence2_plugins(64, 64, Some("dota-folder")));
    let p = plugins(dir);

    // The starting point: a tiny random model without dropout (so that runs are deterministic).
    let init = dir.join("init");
    p.model("florence2", &serde_json::json!({})).unwrap().save(&init).unwrap();
    let cfg_path = init.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    for k in ["dropout", "attention_dropout", "activation_dropout"] {
        cfg["text_config"][k] = 0.0.into();
    }
    cfg["vision_config"]["drop_path_rate"] = 0.0.into();
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();

    let root = dataset(dir);
    let ds = p.dataset("dota-folder", &serde_json::json!({"root": root})).unwrap();
    let classes = ds.classes().unwrap();
    let fmt = p.format("v2", &serde_json::json!({})).unwrap();
    let samples = data::encode_dataset(&ds, &fmt, &classes).unwrap().samples;
    assert_eq!(samples.len(), 4);

    run(dir, &init, &samples, &config(&dir.join("single"), 2), None);
    std::thread::scope(|s| {
        for g in LocalGroup::new(2) {
            let (init, samples) = (&init, &samples);
            s.spawn(move || {
                let rank = lmmrotate_dist::Collective::rank(&g);
                let pg = ProcessGroup::new(Box::new(g));
                // Every rank writes into its own folder here (in a real run they share one and
                // only rank 0 writes).
                let out = dir.join(format!("dp{rank}"));
                run(dir, init, samples, &config(&out, 1), Some(&pg));
            });
        }
    });

    let before = read_f32(&init.join("model.safetensors"));
    let single = read_f32(&dir.join("single/model.safetensors"));
    let dp = read_f32(&dir.join("dp0/model.safetensors"));
    assert!(!dir.join("dp1/model.safetensors").exists(), "only rank 0 saves");
    let (mut moved, mut diff) = (0f32, 0f32);
    for (name, w) in &single {
        let (b, d) = (&before[name], &dp[name]);
        for i in 0..w.len() {
            moved = moved.max((w[i] - b[i]).abs());
            diff = diff.max((w[i] - d[i]).abs());
        }
    }
    eprintln!("largest weight change {moved:e}, largest difference single vs data-parallel {diff:e}");
    assert!(moved > 1e-3, "training moved the weights ({moved})");
    assert!(diff < 1e-5, "data-parallel weights differ from single-process ones by {diff}");
    let log = |d: &str| std::fs::read_to_string(dir.join(d).join("log.csv")).unwrap();
    let losses = |t: String| t.lines().skip(1).map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap()).collect::<Vec<_>>();
    for (a, b) in losses(log("single")).iter().zip(losses(log("dp0"))) {
        assert!((a - b).abs() < 1e-5, "logged loss is the mean over ranks: {a} vs {b}");
    }
}
