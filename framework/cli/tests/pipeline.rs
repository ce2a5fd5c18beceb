//! The whole job on CPU with a tiny Florence-2: synthetic data → train (killed with SIGKILL in
//! the middle, then resumed: the steps continue, nothing is logged twice, the loss goes down) →
//! eval (an interrupted response file is resumed without duplicates) → metrics JSON.

use lmmrotate_testkit as tk;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

fn registry(dir: &Path) -> PathBuf {
    tk::write_registry(dir, &tk::tiny_florence2_plugins(64, 256, Some("synthetic")))
}

fn cmd(dir: &Path, reg: &Path, args: &[&str]) -> Command {
    tk::lmmrotate(dir, reg, args)
}

fn ok(o: Output) -> String {
    tk::stdout_ok(o)
}

fn log_rows(run: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("log.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect()
}

#[test]
fn synth_train_kill_resume_eval() {
    if !tk::has_libtorch() {
        return;
    }
    tk::build(&["lmmrotate-model-florence2-tch", "lmmrotate-format-florence2", "lmmrotate-dataset-dota"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let reg = registry(dir);
    ok(cmd(dir, &reg, &["data", "synth", "--out", "synth", "--images", "6", "--size", "64", "--seed", "5"]).output().unwrap());

    let train_args = [
        "train", "--dataset", "synthetic", "--dataset-root", "synth", "--output_dir", "run", "--max_steps", "80",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--learning_rate", "3e-3",
        "--warmup_ratio", "0", "--lr_scheduler_type", "constant", "--save_steps", "5", "--save_total_limit", "2",
    ];
    // Kill the first run (SIGKILL, no chance to clean up) once it has saved a checkpoint.
    let mut child = cmd(dir, &reg, &train_args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let run = dir.join("run");
    let t0 = Instant::now();
    while !run.join("checkpoint-10").join("trainer_state.json").exists() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no checkpoint-10 in 2 minutes");
        assert!(child.try_wait().unwrap().is_none(), "training ended before it could be killed");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run.join("checkpoint-80").exists(), "killed before the end");

    let out = ok(cmd(dir, &reg, &train_args).output().unwrap());
    assert!(out.contains("resumed from update"), "{out}");
    let rows = log_rows(&run);
    let steps: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(steps, (1..=80).collect::<Vec<_>>(), "every update logged once, in order");
    let first: f64 = rows[..5].iter().map(|r| r.1).sum::<f64>() / 5.0;
    let last: f64 = rows[75..].iter().map(|r| r.1).sum::<f64>() / 5.0;
    // A tiny random model on dense scenes: the mean of the last five losses clearly below the first five.
    assert!(last < 0.85 * first, "loss {first} -> {last}");
    assert!(run.join("model.safetensors").is_file() && run.join("loss.png").is_file());
    let kept: Vec<_> = std::fs::read_dir(&run).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("checkpoint-")).collect();
    assert_eq!(kept.len(), 2, "save_total_limit keeps two: {kept:?}");
    let state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("checkpoint-80/trainer_state.json")).unwrap()).unwrap();
    // 6 samples, batch 2: 3 updates per epoch, so update 80 ends in epoch 26 at micro-batch 2.
    assert_eq!((state["epoch"].as_u64(), state["next_micro_batch"].as_u64()), (Some(26), Some(2)));

    let eval_args = ["eval", "--checkpoint", "run", "--dataset", "synthetic", "--dataset-root", "synth", "--out", "ev", "--batch-size", "2", "--max-new-tokens", "16"];
    ok(cmd(dir, &reg, &eval_args).output().unwrap());
    let responses = dir.join("ev/responses.jsonl");
    let full = std::fs::read_to_string(&responses).unwrap();
    assert_eq!(full.lines().count(), 6);
    // As if killed while writing: two whole lines and half of the third.
    let lines: Vec<&str> = full.lines().collect();
    std::fs::write(&responses, format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..10])).unwrap();
    let out = ok(cmd(dir, &reg, &eval_args).output().unwrap());
    assert!(out.contains("4 new response(s)"), "{out}");
    let again = std::fs::read_to_string(&responses).unwrap();
    let mut ids: Vec<String> = again.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["image_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 6);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "no duplicates");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("ev/metrics.json")).unwrap()).unwrap();
    for k in ["map_nc_11points", "map_nc_area", "mf1", "mf1_no_background", "per_class"] {
        assert!(m.get(k).is_some(), "metrics.json lacks {k}: {m}");
    }
    // Scoring again from the saved responses, with pictures: ground truth | prediction.
    let mut args = eval_args.to_vec();
    args.extend(["--metrics-only", "--vis"]);
    ok(cmd(dir, &reg, &args).output().unwrap());
    let pics = std::fs::read_dir(dir.join("ev/vis")).unwrap().count();
    assert_eq!(pics, 6);
    let first = std::fs::read_dir(dir.join("ev/vis")).unwrap().next().unwrap().unwrap().path();
    let img = image::open(first).unwrap();
    assert_eq!(img.width(), 2 * 64 + 16, "two 64 px panels and the gap");

    // Every kept checkpoint of the run, each scored into its own folder.
    let mut args = eval_args.to_vec();
    args.extend(["--eval_intermediate_checkpoints", "--clip_num", "2"]);
    ok(cmd(dir, &reg, &args).output().unwrap());
    for step in [75, 80] {
        assert!(run.join(format!("checkpoint-{step}/eval_synthetic/metrics.json")).is_file(), "checkpoint-{step} not evaluated");
    }

    // A test split without annotations, cut into patches: not scored, a DOTA Task1 submission instead.
    ok(cmd(dir, &reg, &["data", "split", "--img-dir", "synth/images", "--out", "patches", "--sizes", "32", "--gaps", "8"]).output().unwrap());
    std::fs::create_dir_all(dir.join("unlabelled")).unwrap();
    std::fs::rename(dir.join("patches/images"), dir.join("unlabelled/images")).unwrap();
    let out = ok(cmd(
        dir,
        &reg,
        &["eval", "--checkpoint", "run", "--dataset", "synthetic", "--dataset-root", "unlabelled", "--out", "ev_test", "--batch-size", "4", "--max-new-tokens", "16"],
    )
    .output()
    .unwrap());
    assert!(out.contains("not scored"), "{out}");
    let task1: Vec<String> = std::fs::read_dir(dir.join("ev_test/Task1")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(task1.len(), 6, "one Task1_<class>.txt per class: {task1:?}");
    assert!(!dir.join("ev_test/metrics.json").exists());
}
