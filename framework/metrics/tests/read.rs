//! Readers: well-formed files, and garbage that must name file and line (or be counted with
//! `skip_bad`).

use lmmrotate_metrics::{
    evaluate, read_dota_annfile, read_dota_annfiles, read_predictions_jsonl, read_task1_dir, BuildOptions, ClassIndex,
    EvalInput, EvalOptions, ReadError, ReadOptions,
};
use std::fs;
use std::path::Path;

fn classes() -> ClassIndex {
    ClassIndex::new(["plane", "small-vehicle"]).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

const STRICT: ReadOptions = ReadOptions { skip_bad: false };
const SKIP: ReadOptions = ReadOptions { skip_bad: true };

#[test]
fn dota_annfiles_with_headers() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "P2.txt",
        "imagesource:GoogleEarth\ngsd:0.146\n0 0 10 0 10 10 0 10 plane 0\n\n5 5 9 5 9 7 5 7 small-vehicle 1\n",
    );
    write(d.path(), "P1.txt", "1 1 2 1 2 2 1 2 Small-Vehicle 2\n");
    write(d.path(), "notes.md", "not an annfile");
    let l = read_dota_annfiles(d.path(), &classes(), &STRICT).unwrap();
    assert!(l.skipped.is_empty());
    let ids: Vec<&str> = l.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["P1", "P2"]);
    assert_eq!(l.items[1].objects.len(), 2);
    assert_eq!(l.items[1].objects[1].class, 1);
    assert_eq!(l.items[1].objects[1].difficulty, 1);
    assert_eq!(l.items[0].objects[0].class, 1);
    assert_eq!(l.items[0].objects[0].quad, [1.0, 1.0, 2.0, 1.0, 2.0, 2.0, 1.0, 2.0]);
}

fn line_error(e: ReadError) -> (String, usize, String) {
    match &e {
        ReadError::Line { path, line, problem } => {
            (path.file_name().unwrap().to_string_lossy().into_owned(), *line, problem.to_string())
        }
        other => panic!("expected a line error, got {other}"),
    }
}

#[test]
fn garbage_annfile_lines_name_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        ("seven.txt", "0 0 10 0 10 10 0\n", "found 7"),
        ("nan.txt", "0 0 10 0 10 NaN 0 10 plane 0\n", "field 6 is not finite"),
        ("word.txt", "0 0 10 0 ten 10 0 10 plane 0\n", "field 5 is not a number"),
        ("class.txt", "0 0 10 0 10 10 0 10 tank 0\n", "unknown class \"tank\""),
        ("diff.txt", "0 0 10 0 10 10 0 10 plane -1\n", "difficulty"),
    ];
    for (name, body, want) in cases {
        let p = write(d.path(), name, &format!("gsd:0.1\n0 0 1 0 1 1 0 1 plane 0\n{body}"));
        let err = read_dota_annfile(&p, &classes(), &STRICT).unwrap_err();
        let msg = err.to_string();
        let (file, line, problem) = line_error(err);
        assert_eq!((file.as_str(), line), (name, 3), "{msg}");
        assert!(problem.contains(want), "{msg}");
        assert!(msg.contains(&format!("{name}:3:")), "{msg}");
        // With skip_bad the line is counted and the good one kept.
        let l = read_dota_annfile(&p, &classes(), &SKIP).unwrap();
        assert_eq!((l.items.len(), l.skipped.len()), (1, 1));
    }
    let missing = d.path().join("nope.txt");
    let err = read_dota_annfile(&missing, &classes(), &SKIP).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }) && err.to_string().contains("nope.txt"), "{err}");
    assert!(read_dota_annfiles(&d.path().join("no-dir"), &classes(), &SKIP).is_err());
}

#[test]
fn jsonl_predictions() {
    let d = tempfile::tempdir().unwrap();
    let good =
        r#"{"image_id": "P1", "width": 1024, "detections": [{"class": "Small-Vehicle", "quad": [1,1,2,1,2,2,1,2]}]}"#;
    let p = write(d.path(), "pred.jsonl", &format!("{good}\n\n{{\"image_id\": \"P2\", \"detections\": []}}\n"));
    let l = read_predictions_jsonl(&p, &classes(), &STRICT).unwrap();
    assert_eq!(l.items.len(), 2);
    assert_eq!(l.items[0].detections[0].class, 1);
    assert_eq!(l.items[0].detections[0].score, None);

    let cases = [
        (r#"{"image_id": "P3", "detections": [{"class": "plane", "quad": [1,2,3,4,5,6,7]}]}"#, "quad has 7 numbers"),
        (r#"{"image_id": "P3", "detections": [{"class": "tank", "quad": [1,2,3,4,5,6,7,8]}]}"#, "unknown class"),
        (r#"{"image_id": "P3", "detections": [{"class": "plane", "quad": [1,2,3,4,5,6,7,NaN]}]}"#, "invalid JSON"),
        (r#"{"image_id": "P3", "detections": [{"class": "plane", "quad": [1,2,3,4,5,6,7,1e999]}]}"#, "invalid JSON"),
        (r#"{"image_id": "P1", "detections": []}"#, "appears a second time"),
        ("not json", "invalid JSON"),
    ];
    for (bad, want) in cases {
        let p = write(d.path(), "bad.jsonl", &format!("{good}\n{bad}\n"));
        let err = read_predictions_jsonl(&p, &classes(), &STRICT).unwrap_err();
        let msg = err.to_string();
        let (file, line, problem) = line_error(err);
        assert_eq!((file.as_str(), line), ("bad.jsonl", 2), "{msg}");
        assert!(problem.contains(want), "{msg}");
        let l = read_predictions_jsonl(&p, &classes(), &SKIP).unwrap();
        assert_eq!((l.items.len(), l.skipped.len()), (1, 1));
    }
}

#[test]
fn task1_folder_round_trip_into_evaluation() {
    let d = tempfile::tempdir().unwrap();
    let gt_dir = d.path().join("annfiles");
    fs::create_dir(&gt_dir).unwrap();
    write(&gt_dir, "P1.txt", "0 0 10 0 10 10 0 10 plane 0\n20 20 30 20 30 30 20 30 small-vehicle 0\n");
    let t1 = d.path().join("task1");
    fs::create_dir(&t1).unwrap();
    write(&t1, "Task1_plane.txt", "P1 0.9 0 0 10 0 10 10 0 10\nP1 0.3 50 50 60 50 60 60 50 60\n");
    write(&t1, "Task1_small-vehicle.txt", "P1 0.8 20 20 30 20 30 30 20 30\n");
    let gts = read_dota_annfiles(&gt_dir, &classes(), &STRICT).unwrap();
    let preds = read_task1_dir(&t1, &classes(), &STRICT).unwrap();
    assert_eq!(preds.items.len(), 1);
    assert_eq!(preds.items[0].detections.len(), 3);
    let input = EvalInput::build(&classes(), &gts.items, &preds.items, &BuildOptions::default()).unwrap();
    assert!(input.has_scores);
    let r = evaluate(&input, &EvalOptions::default()).unwrap();
    // plane: TP then FP → AP 1; small-vehicle: TP → 1.
    assert_eq!((r.map_nc_11points, r.map_11points), (1.0, Some(1.0)));

    write(&t1, "Task1_tank.txt", "");
    let err = read_task1_dir(&t1, &classes(), &STRICT).unwrap_err();
    assert!(err.to_string().contains("Task1_tank.txt"), "{err}");
    fs::remove_file(t1.join("Task1_tank.txt")).unwrap();
    write(&t1, "Task1_plane.txt", "P1 0.9 0 0 10 0 10 10 0\n");
    let err = read_task1_dir(&t1, &classes(), &STRICT).unwrap_err();
    assert!(err.to_string().contains("Task1_plane.txt:1:"), "{err}");
    assert!(matches!(read_task1_dir(&gt_dir, &classes(), &STRICT), Err(ReadError::NoTask1Files { .. })));
}
