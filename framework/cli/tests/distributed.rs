//! `lmmrotate launch` on CPU: ranks as processes that meet over TCP. Training on two ranks logs
//! and saves once and resumes on all ranks; evaluation sharded over three processes merges to
//! exactly the single-process result; a failing rank stops the others.

use lmmrotate_testkit as tk;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn registry(dir: &Path) -> PathBuf {
    tk::write_registry(dir, &tk::tiny_florence2_plugins(64, 128, Some("synthetic")))
}

fn cmd(dir: &Path, reg: &Path, args: &[&str]) -> Command {
    tk::lmmrotate(dir, reg, args)
}

fn ok(o: Output) -> String {
    tk::stdout_ok(o)
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string()
}

fn launch(dir: &Path, reg: &Path, n: &str, args: &[&str]) -> Command {
    let port = free_port();
    let mut all = vec!["launch", "--nproc-per-node", n, "--master-port", port.as_str(), "--"];
    all.extend(args);
    cmd(dir, reg, &all)
}

fn setup() -> Option<(tempfile::TempDir, PathBuf)> {
    if !tk::has_libtorch() {
        return None;
    }
    tk::build(&["lmmrotate-model-florence2-tch", "lmmrotate-format-florence2", "lmmrotate-dataset-dota"]);
    let tmp = tempfile::tempdir().unwrap();
    let reg = registry(tmp.path());
    ok(cmd(tmp.path(), &reg, &["data", "synth", "--out", "synth", "--images", "7", "--size", "64", "--seed", "3"]).output().unwrap());
    Some((tmp, reg))
}

#[test]
fn two_ranks_train_save_once_and_resume_together() {
    let Some((tmp, reg)) = setup() else { return };
    let dir = tmp.path();
    let train = |steps: &str| {
        let args = [
            "train", "--dataset", "synthetic", "--dataset-root", "synth", "--output_dir", "run", "--max_steps", steps,
            "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--learning_rate", "1e-3",
            "--save_steps", "2",
        ];
        ok(launch(dir, &reg, "2", &args).output().unwrap())
    };
    let out = train("4");
    // 7 samples over 2 ranks: 4 each (one repeated), 2 micro-batches of 2 per epoch.
    assert!(out.contains("2 updates per epoch, 4 in all (batch 2 x accumulation 1 x 2 rank(s))"), "{out}");
    assert_eq!(out.matches("done: 4 updates").count(), 1, "only rank 0 reports: {out}");
    let rows = |d: &Path| std::fs::read_to_string(d.join("run/log.csv")).unwrap().lines().skip(1).count();
    assert_eq!(rows(dir), 4, "one log row per update, written by rank 0 alone");
    assert!(dir.join("run/checkpoint-4/model.safetensors").is_file());
    let out = train("6");
    assert!(out.contains("resumed from update 4"), "{out}");
    assert_eq!(rows(dir), 6);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run/checkpoint-6/trainer_state.json")).unwrap()).unwrap();
    assert_eq!((state["global_step"].as_u64(), state["epoch"].as_u64()), (Some(6), Some(3)));
}

#[test]
fn eval_sharded_over_three_processes_merges_to_the_single_process_result() {
    let Some((tmp, reg)) = setup() else { return };
    let dir = tmp.path();
    let eval = |out: &str| {
        vec![
            "eval", "--dataset", "synthetic", "--dataset-root", "synth", "--out", out, "--batch-size", "1", "--max-new-tokens", "12",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    ok(cmd(dir, &reg, &refs(&eval("one"))).output().unwrap());
    let out = ok(launch(dir, &reg, "3", &refs(&eval("three"))).output().unwrap());
    assert!(out.contains("merged 7 responses"), "{out}");
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    assert_eq!(read("three/responses.jsonl"), read("one/responses.jsonl"));
    assert_eq!(read("three/metrics.json"), read("one/metrics.json"));
    assert!(!dir.join("three/responses.rank0.jsonl").exists(), "shard files are merged away");

    // The same by hand: shards without a launcher, then --merge.
    for i in 0..2 {
        let mut a = eval("byhand");
        a.extend(["--shard".into(), format!("{i}/2")]);
        let o = ok(cmd(dir, &reg, &refs(&a)).output().unwrap());
        assert!(o.contains(&format!("shard {i}/2 done")), "{o}");
    }
    let mut a = eval("byhand");
    a.push("--merge".into());
    ok(cmd(dir, &reg, &refs(&a)).output().unwrap());
    assert_eq!(read("byhand/metrics.json"), read("one/metrics.json"));

    // --metrics-only under a launcher: rank 0 alone scores (the others would race on the same
    // files), and nobody waits for a group.
    let mut a = eval("three");
    a.push("--metrics-only".into());
    let out = ok(launch(dir, &reg, "3", &refs(&a)).output().unwrap());
    assert_eq!(out.matches("metrics: ").count(), 1, "one rank scores: {out}");
    assert_eq!(read("three/metrics.json"), read("one/metrics.json"));
}

#[test]
fn a_failing_rank_stops_the_run_with_its_exit_code() {
    let Some((tmp, reg)) = setup() else { return };
    // Both ranks fail the same way here (a dataset root that does not exist); the launcher
    // reports the first and returns its code.
    let o = launch(tmp.path(), &reg, "2", &["train", "--dataset", "synthetic", "--dataset-root", "missing", "--max_steps", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exited with code 2") && err.contains("missing"), "{err}");
}
