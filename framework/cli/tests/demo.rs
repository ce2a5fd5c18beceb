//! The embedded default: the shipped micro Florence-2 (models/florence2-micro) re-scored on its
//! recorded test set through the repository's own registry entry must reproduce the mAP_nc of its
//! model card (eval.json) within 0.01; `scripts/demo.sh` runs end to end in a reduced form; and the
//! second backend (PaliGemma on candle) evaluates through the same command.

use lmmrotate_testkit as tk;
use std::process::Command;

fn libtorch() -> bool {
    if !tk::has_libtorch() {
        return false;
    }
    tk::build(&["lmmrotate-model-florence2-tch", "lmmrotate-format-florence2", "lmmrotate-dataset-dota"]);
    true
}

/// `lmmrotate` run in the repository root with its registry, plugins from this test build.
fn lmm(args: &[&str]) -> String {
    let root = tk::workspace_root();
    let o = Command::new(tk::lmmrotate_bin())
        .current_dir(&root)
        .env("LMMROTATE_PLUGIN_DIR", tk::profile_dir())
        .arg("--registry")
        .arg(root.join("registry.toml"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{args:?}\nstdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn shipped_micro_model_reproduces_its_recorded_scores() {
    if !libtorch() {
        return;
    }
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tk::workspace_root().join("models/florence2-micro/eval.json")).unwrap()).unwrap();
    let t = &card["test_set"];
    let g = &card["generation"];
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("test");
    let out = tmp.path().join("eval");
    let s = |v: &serde_json::Value| v.to_string();
    lmm(&[
        "data", "synth", "--out", data.to_str().unwrap(), "--images", &s(&t["images"]), "--size", &s(&t["size"]),
        "--seed", &s(&t["seed"]), "--prefix", t["prefix"].as_str().unwrap(), "--scene", &t["scene"].to_string(),
    ]);
    lmm(&[
        "eval", "--model", "florence2-micro", "--dataset", "synthetic", "--dataset-root", data.to_str().unwrap(), "--out",
        out.to_str().unwrap(), "--batch-size", "25", "--num-beams", &s(&g["num_beams"]), "--max-new-tokens",
        &s(&g["max_new_tokens"]), "--no-repeat-ngram-size", &s(&g["no_repeat_ngram_size"]), "--device", "cpu",
    ]);
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for k in ["map_nc_11points", "map_nc_area"] {
        let (got, want) = (m[k].as_f64().unwrap(), card[k].as_f64().unwrap());
        assert!((got - want).abs() <= 0.01, "{k}: {got} vs the model card's {want}");
    }
    assert!(card["map_nc_11points"].as_f64().unwrap() >= 0.80, "the demo model's recorded mAP_nc is below 0.80");
}

#[test]
fn demo_script_runs_end_to_end_in_a_reduced_form() {
    if !libtorch() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let root = tk::workspace_root();
    let o = Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .env("LMMROTATE_BIN", tk::lmmrotate_bin())
        .env("LMMROTATE_PLUGIN_DIR", tk::profile_dir())
        .env("DEMO_OUT", &out)
        .env("DEMO_TEST_IMAGES", "6")
        .env("DEMO_TRAIN_IMAGES", "4")
        .env("DEMO_STEPS", "2")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("demo: done"), "{text}");
    for f in ["eval/metrics.json", "run/log.csv", "predictions/predictions.jsonl", "matrix/report.html", "matrix/results.jsonl"] {
        assert!(out.join(f).is_file(), "{f} missing:\n{text}");
    }
    assert_eq!(std::fs::read_dir(out.join("vis")).unwrap().count(), 6, "a picture per test image");
    let results = std::fs::read_to_string(out.join("matrix/results.jsonl")).unwrap();
    assert_eq!(results.lines().filter(|l| l.contains("\"ok\"")).count(), 2, "both matrix cells ran: {results}");
}

#[test]
fn paligemma_on_candle_evaluates_through_lmmrotate_eval() {
    // No libtorch needed: the candle plugin and its format only.
    tk::build(&["lmmrotate-model-paligemma-candle", "lmmrotate-format-paligemma", "lmmrotate-dataset-dota"]);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("test");
    let out = tmp.path().join("eval");
    lmm(&["data", "synth", "--out", data.to_str().unwrap(), "--images", "4", "--size", "64", "--seed", "3"]);
    let text = lmm(&[
        "eval", "--model", "paligemma-tiny", "--format", "paligemma", "--dataset", "synthetic", "--dataset-root",
        data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--batch-size", "2", "--num-beams", "3", "--max-new-tokens", "24",
    ]);
    assert!(text.contains("4 new response(s)"), "{text}");
    let responses = std::fs::read_to_string(out.join("responses.jsonl")).unwrap();
    assert_eq!(responses.lines().count(), 4);
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    // Random weights: the scores are whatever they are, but they exist and are numbers.
    assert!(m["map_nc_11points"].is_number() && m["mf1"].is_number(), "{m}");
}
