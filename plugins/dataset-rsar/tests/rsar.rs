//! The `rsar` entry on small folders made here: `trainval` as train + val, the `test/annfiles`
//! split, the COCO variant over train + val images, and bad input.

use lmmrotate_abi::{DatasetBox, NullHost};
use std::path::Path;

use lmmrotate_dataset_rsar as _;

fn open(config: serde_json::Value) -> Result<DatasetBox, String> {
    lmmrotate_testkit::open_dataset("rsar", config, NullHost::boxed())
}

fn write(path: &Path, bytes: &[u8]) {
    lmmrotate_testkit::write_file(path, bytes);
}

/// A PNG file's signature and IHDR, all that the header reader needs.
fn png(path: &Path, w: u32, h: u32) {
    lmmrotate_testkit::write_file(path, lmmrotate_testkit::png_header(w, h));
}

fn rsar(r: &Path) {
    png(&r.join("train/images/t1.png"), 100, 80);
    write(&r.join("train/annfiles/t1.txt"), b"1 1 9 1 9 5 1 5 ship 0\n");
    png(&r.join("val/images/v1.png"), 90, 90);
    write(&r.join("val/annfiles/v1.txt"), b"1 1 9 1 9 5 1 5 harbor 0\n2 2 9 2 9 5 2 5 tank 1\n");
    png(&r.join("test/images/e1.png"), 50, 50);
    write(&r.join("test/annfiles/e1.txt"), b"1 1 9 1 9 5 1 5 aircraft 0\n");
}

#[test]
fn trainval_is_train_plus_val_and_test_has_labels() {
    let dir = tempfile::tempdir().unwrap();
    rsar(dir.path());
    let ds = open(serde_json::json!({"root": dir.path()})).unwrap();
    let splits: Vec<String> = ds.splits().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(splits, ["test", "train", "trainval", "val"]);
    assert_eq!(ds.len().unwrap(), 2);
    let ids: Vec<String> = (0..2).map(|i| ds.sample(i).unwrap().image.id.into_string()).collect();
    assert_eq!(ids, ["t1", "v1"]);
    let v1 = ds.sample(1).unwrap();
    assert_eq!(v1.objects.iter().map(|o| (o.class_id, o.difficulty)).collect::<Vec<_>>(), [(5, 0), (3, 1)]);
    let test = open(serde_json::json!({"root": dir.path(), "split": "test"})).unwrap();
    assert_eq!(test.sample(0).unwrap().objects[0].class_id, 1);
}

#[test]
fn coco_trainval_finds_images_in_train_and_val() {
    let dir = tempfile::tempdir().unwrap();
    rsar(dir.path());
    let coco = serde_json::json!({
        "images": [{"id": 1, "file_name": "v1.png", "width": 90, "height": 90}, {"id": 2, "file_name": "t1.png", "width": 100, "height": 80}],
        "categories": [{"id": 0, "name": "ship"}, {"id": 5, "name": "bridge"}],
        "annotations": [
            {"id": 1, "image_id": 2, "category_id": 5, "bbox": [1, 1, 8, 4], "area": 32, "iscrowd": 0, "segmentation": [[1, 1, 9, 1, 9, 5, 1, 5]]},
            {"id": 2, "image_id": 2, "category_id": 0, "bbox": [1, 1, 0.5, 4], "area": 2, "iscrowd": 0, "segmentation": [[1, 1, 1.5, 1, 1.5, 5, 1, 5]]}
        ]
    });
    write(&dir.path().join("trainval.json"), coco.to_string().as_bytes());
    let ds = open(serde_json::json!({"root": dir.path(), "annotations": "trainval.json"})).unwrap();
    assert_eq!(ds.len().unwrap(), 2);
    assert_eq!(ds.sample(0).unwrap().image.id.as_str(), "v1");
    let t1 = ds.sample(1).unwrap();
    // The box narrower than one pixel is dropped, as mmdet does.
    assert_eq!((t1.objects.len(), t1.objects[0].class_id), (1, 4));
}

#[test]
fn duplicate_ids_and_bad_lines_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    rsar(dir.path());
    png(&dir.path().join("val/images/t1.png"), 100, 80);
    write(&dir.path().join("val/annfiles/t1.txt"), b"1 1 9 1 9 5 1 5 ship\n1 1 9 1 9 5 1 ship 0\n");
    let err = open(serde_json::json!({"root": dir.path()})).err().unwrap();
    assert!(err.contains("val/images/t1.png") && err.contains("second image"), "{err}");
    let ds = open(serde_json::json!({"root": dir.path(), "skip_bad": true})).unwrap();
    assert_eq!(ds.problems().unwrap().len(), 1);
    assert_eq!(ds.len().unwrap(), 2);
    let err = open(serde_json::json!({"root": dir.path(), "split": "test", "skip_bad": false, "spilt": 1})).err().unwrap();
    assert!(err.contains("unknown field `spilt`"), "{err}");
}
