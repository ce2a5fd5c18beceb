//! `lmmrotate predict` end to end with the real Florence-2 plugin (a tiny random-initialised
//! configuration and the test tokenizer) and the v2 format plugin, on CPU.

use lmmrotate_testkit as tk;
use std::process::Command;

#[test]
fn predict_writes_detections_drawings_and_raw_outputs() {
    if !tk::has_libtorch() {
        return;
    }
    tk::build(&["lmmrotate-model-florence2-tch", "lmmrotate-format-florence2"]);
    let dir = tempfile::tempdir().unwrap();
    let reg = tk::write_registry(dir.path(), &tk::tiny_florence2_plugins(64, 64, None));
    let imgs = dir.path().join("imgs");
    std::fs::create_dir(&imgs).unwrap();
    for (name, w, h) in [("a.png", 100, 80), ("b.png", 64, 64)] {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 2) as u8, (y * 3) as u8, 90])).save(imgs.join(name)).unwrap();
    }
    let out = dir.path().join("out");
    let o = Command::new(tk::lmmrotate_bin())
        .current_dir(dir.path())
        .args(["--registry", reg.to_str().unwrap(), "predict", "--format", "v2", "--classes", "plane,ship"])
        .args(["--max-new-tokens", "10", "--raw", "--out", out.to_str().unwrap(), imgs.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("predictions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["image_id"], "a");
    assert_eq!((lines[0]["width"].as_u64(), lines[0]["height"].as_u64()), (Some(100), Some(80)));
    assert!(lines[0]["response"].as_str().unwrap().starts_with("</s><s>"), "{}", lines[0]["response"]);
    assert!(lines[0]["detections"].is_array());
    let vis = image::open(out.join("vis/a.png")).unwrap();
    assert_eq!((vis.width(), vis.height()), (100, 80), "drawn at the original size");
    let raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("raw/b.json")).unwrap()).unwrap();
    assert_eq!(raw["ids"][0], 2);
    assert_eq!(raw["ids"][1], 0);
}

#[test]
fn bench_reports_timings_and_forces_the_generated_length() {
    if !tk::has_libtorch() {
        return;
    }
    tk::build(&["lmmrotate-model-florence2-tch"]);
    let dir = tempfile::tempdir().unwrap();
    let reg = tk::write_registry(
        dir.path(),
        &format!(
            "[[plugin]]\nkind = \"model\"\nname = \"florence2\"\nlib = \"lmmrotate_model_florence2_tch\"\nconfig = {}\n",
            tk::tiny_florence2_config(64, 64)
        ),
    );
    let run = |args: &[&str]| -> serde_json::Value {
        let o = Command::new(tk::lmmrotate_bin()).args(["--registry", reg.to_str().unwrap(), "bench"]).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let g = run(&["generate", "--json", "--batch", "2", "--new-tokens", "12", "--steps", "2", "--warmup", "0"]);
    assert_eq!(g["result"]["tokens"], 12, "{g}");
    assert!(g["result"]["call"]["median_ms"].as_f64().unwrap() > 0.0);
    let t = run(&["train", "--json", "--target-tokens", "40", "--steps", "2", "--warmup", "0"]);
    assert!(t["result"]["target_tokens"].as_u64().unwrap() >= 40, "{t}");
    assert!(t["result"]["samples_per_second"].as_f64().unwrap() > 0.0);
}
