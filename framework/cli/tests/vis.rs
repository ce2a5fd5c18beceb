//! End-to-end tests of `lmmrotate vis` on flat grey images in a temp folder: pictures are written
//! at the right size, boxes have their class colour on their edges, and a missing image or
//! annotation file is reported (exit 1) while the rest is still drawn.
//!
//! Classes plane, ship. img1 200 x 150: ship [20,100]x[50,120] in the ground truth, predicted as
//! ship [30,110]x[50,120] with score 0.9; img2 160 x 120: plane [40,120]x[60,100] in both.

use image::{Rgb, RgbImage};
use lmmrotate_core::{images::class_colour, vis::PANEL_GAP};
use lmmrotate_testkit as tk;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GREY: Rgb<u8> = Rgb([70, 80, 90]);
const SHIP: u32 = 1;
const PLANE: u32 = 0;

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir_all(p.join("images")).unwrap();
    std::fs::create_dir_all(p.join("gt")).unwrap();
    RgbImage::from_pixel(200, 150, GREY).save(p.join("images/img1.png")).unwrap();
    RgbImage::from_pixel(160, 120, GREY).save(p.join("images/img2.png")).unwrap();
    std::fs::write(p.join("gt/img1.txt"), "imagesource:GoogleEarth\ngsd:0.1\n20 50 100 50 100 120 20 120 ship 0\n")
        .unwrap();
    std::fs::write(p.join("gt/img2.txt"), "40 60 120 60 120 100 40 100 plane 1\n").unwrap();
    // As `lmmrotate predict` writes it.
    let pred = [
        r#"{"image_id":"img1","path":"images/img1.png","width":200,"height":150,"response":"<ship>...","detections":[{"class":"ship","quad":[30,50,110,50,110,120,30,120],"score":0.9}],"dropped":{}}"#,
        r#"{"image_id":"img2","path":"images/img2.png","width":160,"height":120,"response":"<plane>...","detections":[{"class":"plane","quad":[40,60,120,60,120,100,40,100]}],"dropped":{}}"#,
    ];
    std::fs::write(p.join("pred.jsonl"), pred.join("\n") + "\n").unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    run_with_classes(dir, "plane,ship", args)
}

fn run_with_classes(dir: &Path, classes: &str, args: &[&str]) -> Output {
    Command::new(tk::lmmrotate_bin())
        .current_dir(dir)
        .args(["vis", "--classes", classes])
        .args(args)
        .env_remove("LMMROTATE_LOG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn open(path: PathBuf) -> RgbImage {
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

#[test]
fn ground_truth_alone_keeps_the_image_size_and_colours_the_edges() {
    let dir = setup();
    let out = run(dir.path(), &["--images", "images", "--gt", "gt", "--out", "vis"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let img1 = open(dir.path().join("vis/img1.png"));
    assert_eq!(img1.dimensions(), (200, 150));
    assert_eq!(*img1.get_pixel(20, 85), class_colour(SHIP), "left edge of the ship");
    assert_eq!(*img1.get_pixel(100, 85), class_colour(SHIP), "right edge of the ship");
    assert_eq!(*img1.get_pixel(60, 85), GREY, "inside untouched");
    let img2 = open(dir.path().join("vis/img2.png"));
    assert_eq!(img2.dimensions(), (160, 120));
    assert_eq!(*img2.get_pixel(80, 100), class_colour(PLANE), "bottom edge of the plane");
    assert!(text(&out.stdout).contains("2 of 2 image(s) drawn"), "{}", text(&out.stdout));
}

#[test]
fn both_give_two_panels_side_by_side() {
    let dir = setup();
    let out =
        run(dir.path(), &["--images", "images/img1.png", "images/img2.png", "--gt", "gt", "--pred", "pred.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pic = open(dir.path().join("vis/img1.png"));
    assert_eq!(pic.width(), 2 * 200 + PANEL_GAP);
    assert!(pic.height() > 150, "a title bar above the panels");
    let top = pic.height() - 150;
    let right = 200 + PANEL_GAP;
    assert_eq!(*pic.get_pixel(20, 85 + top), class_colour(SHIP), "ground truth edge, left panel");
    assert_eq!(*pic.get_pixel(30, 85 + top), GREY, "the prediction is not on the left");
    assert_eq!(*pic.get_pixel(right + 30, 85 + top), class_colour(SHIP), "predicted edge, right panel");
    assert_eq!(*pic.get_pixel(right + 20, 85 + top), GREY, "the ground truth is not on the right");
    assert_eq!(open(dir.path().join("vis/img2.png")).width(), 2 * 160 + PANEL_GAP);
}

#[test]
fn missing_image_and_annfile_are_reported_and_the_rest_drawn() {
    let dir = setup();
    let p = dir.path();
    let mut pred = std::fs::read_to_string(p.join("pred.jsonl")).unwrap();
    pred += r#"{"image_id":"img9","detections":[]}"#;
    std::fs::write(p.join("pred.jsonl"), pred).unwrap();
    std::fs::remove_file(p.join("gt/img2.txt")).unwrap();
    let out = run(p, &["--images", "images", "--gt", "gt", "--pred", "pred.jsonl", "--out", "pics"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("img9: no image"), "{err}");
    assert!(err.contains("img2: no annotation file"), "{err}");
    assert!(text(&out.stdout).contains("1 of 3 image(s) drawn"), "{}", text(&out.stdout));
    assert!(p.join("pics/img1.png").is_file());
    assert!(!p.join("pics/img2.png").exists());
}

#[test]
fn predictions_alone_and_usage_errors() {
    let dir = setup();
    let out = run(dir.path(), &["--images", "images", "--pred", "pred.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let img1 = open(dir.path().join("vis/img1.png"));
    assert_eq!(img1.dimensions(), (200, 150));
    assert_eq!(*img1.get_pixel(110, 85), class_colour(SHIP));

    let neither = run(dir.path(), &["--images", "images"]);
    assert_eq!(neither.status.code(), Some(2), "--gt or --pred is required");
    let unknown = run_with_classes(dir.path(), "plane", &["--images", "images", "--gt", "gt", "--out", "only-planes"]);
    let err = text(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(1), "{err}");
    assert!(err.contains("img1.txt:3") && err.contains("ship"), "the bad line is named: {err}");
    assert!(dir.path().join("only-planes/img2.png").is_file());
}
