//! The `srsdd` entry on small folders made here: DOTA annfiles, the COCO JSON variant, and bad
//! input with and without `skip_bad`.

use lmmrotate_abi::{DatasetBox, NullHost};
use std::path::Path;

use lmmrotate_dataset_srsdd as _;

fn open(config: serde_json::Value) -> Result<DatasetBox, String> {
    lmmrotate_testkit::open_dataset("srsdd", config, NullHost::boxed())
}

fn write(path: &Path, bytes: &[u8]) {
    lmmrotate_testkit::write_file(path, bytes);
}

/// A PNG file's signature and IHDR, all that the header reader needs.
fn png(path: &Path, w: u32, h: u32) {
    lmmrotate_testkit::write_file(path, lmmrotate_testkit::png_header(w, h));
}

#[test]
fn reads_annfiles_and_the_coco_json() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    png(&r.join("train/images/s1.png"), 1024, 1024);
    write(&r.join("train/labelTxt/s1.txt"), b"10 10 50 10 50 30 10 30 ore-oil 0\n60 60 90 60 90 70 60 70 Cell-Container 1\n");
    png(&r.join("test/images/s2.png"), 1024, 1024);
    let ds = open(serde_json::json!({"root": r})).unwrap();
    assert_eq!(ds.classes().unwrap().len(), 6);
    let s = ds.sample(0).unwrap();
    let got: Vec<(u32, u32)> = s.objects.iter().map(|o| (o.class_id, o.difficulty)).collect();
    assert_eq!(got, [(5, 0), (0, 1)]);

    let coco = serde_json::json!({
        "images": [{"id": 7, "file_name": "s2.png", "width": 1024, "height": 1024}],
        "categories": [{"id": 1, "name": "Dredger"}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [5, 5, 20, 10], "area": 200, "iscrowd": 0,
                         "segmentation": [[5, 5, 25, 5, 25, 15, 5, 15]]}]
    });
    write(&r.join("test.json"), coco.to_string().as_bytes());
    let ds = open(serde_json::json!({"root": r, "split": "test", "annotations": "test.json"})).unwrap();
    let s = ds.sample(0).unwrap();
    assert_eq!((s.image.id.as_str(), s.objects.len(), s.objects[0].class_id), ("s2", 1, 2));
    assert_eq!(s.objects[0].quad.pts, [5., 5., 25., 5., 25., 15., 5., 15.]);
}

#[test]
fn bad_input_is_reported_or_counted() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    png(&r.join("train/images/a.png"), 64, 64);
    write(&r.join("train/images/b.png"), b"not an image");
    write(&r.join("train/annfiles/a.txt"), b"1 1 5 1 5 5 1 5 Tanker 0\n1 1 5 1 5 5 1 5 Fishing 0\n");
    write(&r.join("train/annfiles/b.txt"), b"");
    let err = open(serde_json::json!({"root": r})).err().unwrap();
    assert!(err.contains("a.txt:1: unknown class \"Tanker\""), "{err}");
    let ds = open(serde_json::json!({"root": r, "skip_bad": true})).unwrap();
    let p: Vec<String> = ds.problems().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[1].contains("b.png") && p[1].contains("image size"));
    assert_eq!(ds.len().unwrap(), 1);

    // Invalid JSON: the file and line.
    write(&r.join("train.json"), b"{\"images\": [],\n\"categories\": [],\n\"annotations\": [}\n");
    let err = open(serde_json::json!({"root": r, "annotations": "train.json", "skip_bad": true})).err().unwrap();
    assert!(err.contains("train.json:3:"), "{err}");
    let err = open(serde_json::json!({"root": r, "split": "val"})).err().unwrap();
    assert!(err.contains("val not found") && err.contains("splits under") && err.contains(": train)"), "{err}");
}
