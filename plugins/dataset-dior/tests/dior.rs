//! The `dior` entry on the real mmrotate DIOR-R sample and on a small folder with bad files.

use lmmrotate_abi::{DatasetBox, NullHost};
use std::path::Path;

use lmmrotate_dataset_dior as _;

fn open(config: serde_json::Value) -> Result<DatasetBox, String> {
    lmmrotate_testkit::open_dataset("dior", config, NullHost::boxed())
}

fn sample_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mmrotate-samples/dior")
}

#[test]
fn reads_the_mmrotate_dior_sample() {
    let ds = open(serde_json::json!({"root": sample_root(), "split": "demo"})).unwrap();
    assert_eq!(ds.classes().unwrap().len(), 20);
    assert_eq!(ds.len().unwrap(), 1);
    let s = ds.sample(0).unwrap();
    assert_eq!((s.image.id.as_str(), s.image.width, s.image.height), ("00001", 800, 800));
    assert_eq!(s.objects.len(), 1);
    assert_eq!(s.objects[0].class_id, 9); // golffield
    assert_eq!(s.objects[0].quad.pts, [133., 237., 684., 237., 684., 672., 133., 672.]);
}

#[test]
fn bad_files_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ann = root.join("Annotations/Oriented Bounding Boxes");
    std::fs::create_dir_all(&ann).unwrap();
    std::fs::create_dir_all(root.join("JPEGImages-trainval")).unwrap();
    std::fs::create_dir_all(root.join("ImageSets/Main")).unwrap();
    let jpg = std::fs::read(sample_root().join("JPEGImage/00001.jpg")).unwrap();
    for id in ["a", "b", "c"] {
        std::fs::write(root.join(format!("JPEGImages-trainval/{id}.jpg")), &jpg).unwrap();
    }
    let good = std::fs::read_to_string(sample_root().join("Annotations/Oriented Bounding Boxes/00001.xml")).unwrap();
    std::fs::write(ann.join("a.xml"), good.replace("golffield", "spaceport")).unwrap();
    std::fs::write(ann.join("b.xml"), "<annotation><object>").unwrap();
    std::fs::write(ann.join("c.xml"), &good).unwrap();
    std::fs::write(root.join("ImageSets/Main/trainval.txt"), "a\nb\nc\nd\n").unwrap();
    std::fs::write(root.join("ImageSets/Main/test.txt"), "").unwrap();

    let err = open(serde_json::json!({"root": root})).err().unwrap();
    assert!(err.contains("a.xml:15: unknown class \"spaceport\""), "{err}");
    let ds = open(serde_json::json!({"root": root, "skip_bad": true})).unwrap();
    let problems: Vec<String> = ds.problems().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[1].contains("b.xml") && problems[1].contains("XML"));
    assert!(problems[2].contains("image d not found"));
    // a keeps its image with no objects, b is skipped, c is read.
    assert_eq!(ds.len().unwrap(), 2);
    assert_eq!(ds.sample(0).unwrap().objects.len(), 0);
    assert_eq!(ds.sample(1).unwrap().objects.len(), 1);
    let splits: Vec<String> = ds.splits().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(splits, ["test", "trainval"]);
}

#[test]
fn reads_upstreams_coco_json_instead_of_the_xml() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("JPEGImages-test")).unwrap();
    std::fs::create_dir_all(root.join("Annotations")).unwrap();
    std::fs::copy(sample_root().join("JPEGImage/00001.jpg"), root.join("JPEGImages-test/00001.jpg")).unwrap();
    let coco = serde_json::json!({
        "images": [{"id": 1, "file_name": "00001.jpg", "width": 800, "height": 800}],
        "categories": [{"id": 10, "name": "golffield"}],
        "annotations": [{"id": 3, "image_id": 1, "category_id": 10, "bbox": [133, 237, 551, 435], "area": 239685, "iscrowd": 0,
                         "segmentation": [[133, 237, 684, 237, 684, 672, 133, 672]]}]
    });
    std::fs::write(root.join("Annotations/test.json"), coco.to_string()).unwrap();
    let ds = open(serde_json::json!({"root": root, "split": "test", "annotations": "Annotations/test.json"})).unwrap();
    let s = ds.sample(0).unwrap();
    assert_eq!((s.image.width, s.objects.len(), s.objects[0].class_id), (800, 1, 9));
    assert_eq!(s.objects[0].quad.pts, [133., 237., 684., 237., 684., 672., 133., 672.]);
}

#[test]
fn config_keys_are_the_readers_and_unknown_ones_are_named() {
    let e = open(serde_json::json!({"root": sample_root(), "clases": "x.txt"})).err().unwrap();
    assert!(e.contains("dior config") && e.contains("clases") && e.contains("keys: root, split, skip_bad, annotations, images"), "{e}");
    // `classes` is a key of the reader's config, but not one DIOR-R (a fixed class list) takes.
    let e = open(serde_json::json!({"root": sample_root(), "classes": "x.txt"})).err().unwrap();
    assert!(e.contains("`classes` is not a key of dior"), "{e}");
}
