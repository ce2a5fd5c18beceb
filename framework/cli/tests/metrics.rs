//! End-to-end tests of `lmmrotate metrics` on hand-made annotations and predictions in a temp
//! folder; the expected numbers are worked out by hand below, not by the code under test.
//!
//! Classes plane, ship. Ground truth (axis-aligned 10 x 10 squares unless noted):
//!   img1: plane A = [0,10]x[0,10], ship B = [20,30]x[0,10];  img2: plane C = [0,10]x[0,10].
//! Predictions, in model order:
//!   img1: d1 plane = A, d2 plane = A again, d3 ship = [20,30]x[0,6] (IoU with B 60/100 = 0.6);
//!   img2: d4 plane = [100,110]x[100,110] (overlaps nothing).
//!
//! mAP_nc (VOC07 11 points, every score 1.0, dataset order d1 d2 d4):
//!   plane: 2 gts; TP FP FP → recall .5 .5 .5, precision 1 .5 .33; thresholds 0, .1, …, .5 see
//!          max precision 1, .6 … 1 see nothing → AP = 6/11.
//!   ship:  1 gt; TP → AP = 1.   mAP_nc = (6/11 + 1) / 2 = 17/22 = 0.772727…
//!   (area AP: plane 0.5 · 1 = 0.5, ship 1 → 0.75.)
//! mF1 (confusion matrix, rows gt plane/ship/background, columns pred plane/ship/missed):
//!   d1, d2 → [plane, plane] += 2 (duplicates count); d3 → [ship, ship]; d4 → [background,
//!   plane]; C unmatched → [plane, missed].  CM = [[2,0,1],[0,1,0],[1,0,0]].
//!   P = (2/3, 1, 0), R = (2/3, 1, 0) → mP = mR = mF1 = 5/9; without background 5/6.

use lmmrotate_testkit as tk;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REGISTRY: &str = r#"
[[plugin]]
kind = "format"
name = "plain"
lib = "lmmrotate_example_format"
"#;

const MAP_NC: f64 = 17.0 / 22.0;
const MF1: f64 = 5.0 / 9.0;

struct Env {
    dir: tempfile::TempDir,
    registry: PathBuf,
}

impl Env {
    fn new() -> Self {
        tk::build(&["lmmrotate-example-format"]);
        let dir = tempfile::tempdir().unwrap();
        let registry = tk::write_registry(dir.path(), REGISTRY);
        let env = Env { dir, registry };
        env.write(
            "gt/img1.txt",
            "imagesource:GoogleEarth\ngsd:0.1\n0 0 10 0 10 10 0 10 plane 0\n20 0 30 0 30 10 20 10 ship 0\n",
        );
        env.write("gt/img2.txt", "0 0 10 0 10 10 0 10 plane 1\n");
        env
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(tk::lmmrotate_bin())
            .current_dir(self.dir.path())
            .arg("--registry")
            .arg(&self.registry)
            .arg("metrics")
            .args(args)
            .env_remove("LMMROTATE_PLUGIN_DIR")
            .env_remove("LMMROTATE_LOG")
            .output()
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Runs with `--json`, expects exit `code`, and checks the numbers of the module comment.
fn check_report(env: &Env, pred: &str, extra: &[&str], code: i32) -> (Value, String, String) {
    let mut args = vec!["--gt", "gt", "--pred", pred, "--classes", "plane,ship", "--json", "report.json"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{stdout}{stderr}");
    let r = read_json(&env.path("report.json"));
    assert!(close(r["map_nc_11points"].as_f64().unwrap(), MAP_NC), "{r}");
    assert!(close(r["map_nc_area"].as_f64().unwrap(), 0.75), "{r}");
    assert!(close(r["per_class"]["plane"]["ap_nc_11points"].as_f64().unwrap(), 6.0 / 11.0), "{r}");
    assert!(close(r["per_class"]["ship"]["ap_nc_11points"].as_f64().unwrap(), 1.0), "{r}");
    assert!(close(r["mf1"].as_f64().unwrap(), MF1), "{r}");
    assert!(close(r["mean_precision"].as_f64().unwrap(), MF1), "{r}");
    assert!(close(r["mf1_no_background"].as_f64().unwrap(), 5.0 / 6.0), "{r}");
    assert_eq!(r["confusion_matrix"], json!([[2, 0, 1], [0, 1, 0], [1, 0, 0]]));
    assert_eq!((r["images"].as_u64(), r["detections"].as_u64()), (Some(2), Some(4)));
    // The text report on stdout carries the same numbers.
    assert!(stdout.contains("mAP_nc (11 points) 0.7727, (area) 0.7500"), "{stdout}");
    assert!(stdout.contains("mF1 0.5556 (mP 0.5556, mR 0.5556)"), "{stdout}");
    let plane = stdout.lines().find(|l| l.starts_with("| plane")).expect(&stdout);
    let cells: Vec<&str> = plane.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    // class, gts, dets, recall, precision, AP_nc
    assert_eq!(cells, ["plane", "2", "3", "0.5000", "0.3333", "0.5455"], "{plane}");
    (r, stdout, stderr)
}

const PARSED: &str = r#"{"image_id": "img1", "detections": [{"class": "plane", "quad": [0, 0, 10, 0, 10, 10, 0, 10]}, {"class": "plane", "quad": [0, 0, 10, 0, 10, 10, 0, 10]}, {"class": "Ship", "quad": [20, 0, 30, 0, 30, 6, 20, 6]}]}
{"image_id": "img2", "detections": [{"class": "plane", "quad": [100, 100, 110, 100, 110, 110, 100, 110]}]}
"#;

#[test]
fn parsed_predictions() {
    let env = Env::new();
    env.write("pred.jsonl", PARSED);
    let (r, _, _) = check_report(&env, "pred.jsonl", &[], 0);
    // No scores: no mAP with scores.
    assert!(r.get("map_11points").is_none(), "{r}");
}

#[test]
fn raw_responses_through_a_format_plugin() {
    let env = Env::new();
    let lines = [
        json!({"image_id": "img1", "width": 100, "height": 100,
               "response": "plane 0 0 10 0 10 10 0 10\nplane 0 0 10 0 10 10 0 10\nboat 1 2 3 4 5 6 7 8\nship 20 0 30 0 30 6 20 6"}),
        json!({"image_id": "img2", "width": 100, "height": 100, "response": "plane 100 100 110 100 110 110 100 110"}),
    ];
    env.write("raw.jsonl", &lines.iter().map(|l| l.to_string() + "\n").collect::<String>());
    // The object of an unknown class is the model's mistake, not bad input: tallied, exit 0.
    let (_, _, stderr) = check_report(&env, "raw.jsonl", &["--format", "plain"], 0);
    assert!(stderr.contains("dropped 1 objects: unknown class"), "{stderr}");

    let out = env.run(&["--gt", "gt", "--pred", "raw.jsonl", "--classes", "plane,ship"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("raw model responses: pass --format NAME"), "{}", text(&out.stderr));
}

#[test]
fn task1_folder_with_scores_and_a_class_file() {
    let env = Env::new();
    // Scores d1 .9, d2 .3, d4 .95, d3 .8. Ranked by score, plane is d4 (FP) d1 (TP) d2 (FP):
    // recall 0 .5 .5, precision 0 .5 .33 → 11-point AP = 6 · 0.5 / 11 = 3/11; ship 1;
    // mAP = (3/11 + 1) / 2 = 7/11. mAP_nc ignores the scores: still 17/22 (file order d1 d2).
    env.write(
        "task1/Task1_plane.txt",
        "img1 0.9 0 0 10 0 10 10 0 10\nimg1 0.3 0 0 10 0 10 10 0 10\nimg2 0.95 100 100 110 100 110 110 100 110\n",
    );
    env.write("task1/Task1_ship.txt", "img1 0.8 20 0 30 0 30 6 20 6\n");
    env.write("classes.txt", "plane\n\nship\n");
    let mut args = vec!["--gt", "gt", "--pred", "task1", "--classes", "classes.txt", "--json", "report.json"];
    args.extend(["--tie-samples", "20"]);
    let out = env.run(&args);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let r = read_json(&env.path("report.json"));
    assert!(close(r["map_nc_11points"].as_f64().unwrap(), MAP_NC), "{r}");
    assert!(close(r["map_11points"].as_f64().unwrap(), 7.0 / 11.0), "{r}");
    assert!(close(r["mf1"].as_f64().unwrap(), MF1), "{r}");
    assert_eq!(r["tie_samples"]["samples"], 20);
    assert!(stdout.contains("mAP (11 points) 0.6364"), "{stdout}");
    assert!(stdout.contains("over 20 random tie orders"), "{stdout}");
}

#[test]
fn garbage_line_names_file_and_line_and_skip_bad_counts_it() {
    let env = Env::new();
    env.write("pred.jsonl", PARSED);
    // A second plane line in img2.txt with 7 numbers.
    env.write("gt/img2.txt", "0 0 10 0 10 10 0 10 plane 1\n0 0 10 0 10 10 0\n");
    let out = env.run(&["--gt", "gt", "--pred", "pred.jsonl", "--classes", "plane,ship"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("img2.txt:2: expected 9 or 10"), "{err}");
    assert!(err.contains("found 7"), "{err}");

    // Skipping the line leaves the data of the module comment: same numbers, exit 1, a count.
    let (r, stdout, stderr) = check_report(&env, "pred.jsonl", &["--skip-bad"], 1);
    assert_eq!(r["skipped_lines"], 1);
    assert!(stdout.contains("1 bad input lines skipped"), "{stdout}");
    assert!(stderr.contains("1 bad input lines skipped"), "{stderr}");

    // The same in a Task1 file of predictions.
    env.write("gt/img2.txt", "0 0 10 0 10 10 0 10 plane 1\n");
    env.write("task1/Task1_plane.txt", "img1 0.9 0 0 10 0 10 10 0 10\nimg2 0.5 1 2 3 4 5 6 7\n");
    let out = env.run(&["--gt", "gt", "--pred", "task1", "--classes", "plane,ship"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("Task1_plane.txt:2: expected 10"), "{err}");
    let out = env.run(&["--gt", "gt", "--pred", "task1", "--classes", "plane,ship", "--skip-bad"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    // Bad JSON in parsed predictions names its line too.
    env.write(
        "bad.jsonl",
        &format!(
            "{}{{\"image_id\": \"img3\", \"detections\": [{{\"class\": \"plane\", \"quad\": [1, 2]}}]}}\n",
            PARSED
        ),
    );
    let out = env.run(&["--gt", "gt", "--pred", "bad.jsonl", "--classes", "plane,ship"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.jsonl:3: quad has 2 numbers"), "{err}");
}

#[test]
fn task1_submission_merges_patches_without_ground_truth() {
    let env = Env::new();
    // Two patches of P1 at x offsets 0 and 100. The plane [110,120]x[20,30] is seen by both
    // (the second sees it at x 10..20) and NMS at 0.1 keeps one; the ship [0,10]x[20,24] of the
    // second patch lands at x 100..110.
    // minAreaRect (OpenCV convention): plane centre (115, 25), w = h = 10, θ = 90°; corners in
    // rbox2qbox order c ± v1 ± v2 with v1 = (0, 5), v2 = (-5, 0): (110,30) (120,30) (120,20)
    // (110,20). Ship: centre (105, 22), w = 4 (vertical), h = 10, θ = 90°: v1 = (0, 2),
    // v2 = (-5, 0) → (100,24) (110,24) (110,20) (100,20).
    let lines = [
        json!({"image_id": "P1__1024__0___0", "detections": [{"class": "plane", "quad": [110, 20, 120, 20, 120, 30, 110, 30]}]}),
        json!({"image_id": "P1__1024__100___0", "detections": [
            {"class": "plane", "quad": [10, 20, 20, 20, 20, 30, 10, 30]},
            {"class": "ship", "quad": [0, 20, 10, 20, 10, 24, 0, 24]}]}),
    ];
    env.write("patches.jsonl", &lines.iter().map(|l| l.to_string() + "\n").collect::<String>());
    let out = env.run(&["--pred", "patches.jsonl", "--classes", "plane,ship", "--task1-out", "sub"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let read = |name: &str| std::fs::read_to_string(env.path("sub").join(name)).unwrap();
    assert_eq!(read("Task1_plane.txt"), "P1 1.0 110.00 30.00 120.00 30.00 120.00 20.00 110.00 20.00\n");
    assert_eq!(read("Task1_ship.txt"), "P1 1.0 100.00 24.00 110.00 24.00 110.00 20.00 100.00 20.00\n");

    // An id without a patch offset cannot be merged.
    env.write("plain.jsonl", PARSED);
    let out = env.run(&["--pred", "plain.jsonl", "--classes", "plane,ship", "--task1-out", "sub"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no patch offset"), "{}", text(&out.stderr));
}

#[test]
fn classes_can_come_from_a_registered_dataset() {
    tk::build(&["lmmrotate-example-dataset"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ds")).unwrap();
    std::fs::write(dir.path().join("ds/labels.txt"), "").unwrap();
    let reg = tk::write_registry(
        dir.path(),
        &format!(
            "[[plugin]]\nkind = \"dataset\"\nname = \"labels\"\nlib = \"lmmrotate_example_dataset\"\nentry = \"labels-txt\"\nconfig = {{ root = {:?} }}\n",
            dir.path().join("ds").display().to_string()
        ),
    );
    std::fs::create_dir_all(dir.path().join("gt")).unwrap();
    std::fs::write(dir.path().join("gt/a.txt"), "0 0 10 0 10 10 0 10 tree 0\n").unwrap();
    std::fs::write(
        dir.path().join("pred.jsonl"),
        "{\"image_id\": \"a\", \"detections\": [{\"class\": \"tree\", \"quad\": [0, 0, 10, 0, 10, 10, 0, 10]}]}\n",
    )
    .unwrap();
    let o = Command::new(tk::lmmrotate_bin())
        .current_dir(dir.path())
        .args(["--registry", reg.to_str().unwrap(), "metrics", "--gt", "gt", "--pred", "pred.jsonl", "--classes", "labels", "--json", "m.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let m: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    let names: Vec<&String> = m["per_class"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["car", "tree"], "the dataset's classes, in its order");
    // tree is the only class with ground truth, detected once exactly: mAP_nc 1.
    assert_eq!(m["map_nc_11points"], 1.0);
}
