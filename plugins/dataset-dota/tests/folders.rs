//! The DOTA-style entries on small folders made here: well-formed data, every kind of bad input
//! (with and without `skip_bad`), class inference, and a folder written by lmmrotate-synth.

use lmmrotate_abi::{DatasetBox, NullHost};
use std::path::Path;

// Links the library so that its `inventory` entries are registered in this test binary.
use lmmrotate_dataset_dota as _;

fn open(entry: &str, config: serde_json::Value) -> Result<DatasetBox, String> {
    lmmrotate_testkit::open_dataset(entry, config, NullHost::boxed())
}

fn png(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30])).save(path).unwrap();
}

fn write(path: &Path, text: &str) {
    lmmrotate_testkit::write_file(path, text);
}

/// `ROOT/trainval` with two good images, one of them with the original DOTA header lines.
fn good_split(root: &Path) {
    png(&root.join("trainval/images/P0001.png"), 40, 30);
    png(&root.join("trainval/images/P0000.png"), 20, 10);
    write(
        &root.join("trainval/annfiles/P0000.txt"),
        "imagesource:GoogleEarth\ngsd:0.146\n1 2 3 4 5 6 7 8 plane 0\n10.5 2 13 4 15 6 17 8 harbor 1\n",
    );
    write(&root.join("trainval/annfiles/P0001.txt"), "");
}

#[test]
fn reads_a_dota_split_in_sorted_order_with_sizes_from_headers() {
    let dir = tempfile::tempdir().unwrap();
    good_split(dir.path());
    png(&dir.path().join("test/images/P0009.png"), 8, 8);
    let ds = open("dota", serde_json::json!({"root": dir.path()})).unwrap();
    assert_eq!(ds.len().unwrap(), 2);
    assert_eq!(ds.classes().unwrap().len(), 15);
    let splits: Vec<String> = ds.splits().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(splits, ["test", "trainval"]);
    let s0 = ds.sample(0).unwrap();
    assert_eq!((s0.image.id.as_str(), s0.image.width, s0.image.height), ("P0000", 20, 10));
    assert_eq!(s0.objects.len(), 2);
    assert_eq!(s0.objects[0].class_id, 0);
    assert_eq!(s0.objects[1].class_id, 12); // harbor
    assert_eq!(s0.objects[1].difficulty, 1);
    assert_eq!(s0.objects[1].quad.pts[0], 10.5);
    assert!(s0.image.path.ends_with("P0000.png"));
    assert_eq!(ds.sample(1).unwrap().objects.len(), 0);
    assert!(ds.sample(2).is_err());
    assert!(ds.problems().unwrap().is_empty());

    // The unlabelled test split: images without objects.
    let test = open("dota", serde_json::json!({"root": dir.path(), "split": "test"})).unwrap();
    assert_eq!(test.len().unwrap(), 1);
    assert!(test.sample(0).unwrap().objects.is_empty());
    // Class list variants.
    assert_eq!(open("dota-v1.5", serde_json::json!({"root": dir.path()})).unwrap().classes().unwrap().len(), 16);
    let v2 = open("dota-v2.0", serde_json::json!({"root": dir.path()})).unwrap().classes().unwrap();
    assert_eq!(v2.name(17), Some("helipad"));
}

#[test]
fn bad_input_names_file_and_line_or_is_counted_with_skip_bad() {
    let dir = tempfile::tempdir().unwrap();
    good_split(dir.path());
    let t = dir.path().join("trainval");
    png(&t.join("images/P0002.png"), 16, 16);
    write(
        &t.join("annfiles/P0002.txt"),
        "1 2 3 4 5 6 7 plane 0\n1 2 3 4 5 6 7 NaN plane 0\n1 2 3 4 5 6 7 8 boat 0\n1 2 3 4 5 6 7 8 ship 0\n",
    );
    png(&t.join("images/P0003.png"), 16, 16); // no annfile
    write(&t.join("images/P0004.png"), "not a png"); // unreadable header
    write(&t.join("annfiles/P0004.txt"), "");
    write(&t.join("annfiles/P0005.txt"), ""); // no image

    let err = open("dota", serde_json::json!({"root": dir.path()})).err().unwrap();
    assert!(err.contains("P0002.txt:1:") && err.contains("bad coordinate"), "{err}");
    assert!(err.contains("skip_bad"), "{err}");

    let ds = open("dota", serde_json::json!({"root": dir.path(), "skip_bad": true})).unwrap();
    let problems: Vec<String> = ds.problems().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(problems.len(), 6, "{problems:#?}");
    assert!(problems[0].contains("P0002.txt:1:"));
    assert!(problems[1].contains("P0002.txt:2:") && problems[1].contains("non-finite"));
    assert!(problems[2].contains("P0002.txt:3:") && problems[2].contains("unknown class \"boat\""));
    assert!(problems[3].contains("P0003.png") && problems[3].contains("no annotation file"));
    assert!(problems[4].contains("P0004.png") && problems[4].contains("image size"));
    assert!(problems[5].contains("P0005.txt") && problems[5].contains("no image"));
    // The good line of P0002 is kept; the images without annotation or size are left out.
    assert_eq!(ds.len().unwrap(), 3);
    let s = ds.sample(2).unwrap();
    assert_eq!((s.image.id.as_str(), s.objects.len(), s.objects[0].class_id), ("P0002", 1, 6));
}

#[test]
fn config_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let err = open("dota", serde_json::json!({"root": dir.path(), "spilt": "x"})).err().unwrap();
    assert!(err.contains("unknown field `spilt`"), "{err}");
    let err = open("dota", serde_json::json!({"root": dir.path()})).err().unwrap();
    assert!(err.contains("trainval not found"), "{err}");
    let err = open("dota-folder", serde_json::json!({"root": dir.path(), "classes": "c.txt"})).err().unwrap();
    assert!(err.contains("reading class list c.txt"), "{err}");
    std::fs::create_dir(dir.path().join("trainval")).unwrap();
    let err = open("dota", serde_json::json!({"root": dir.path()})).err().unwrap();
    assert!(err.contains("no `images` folder"), "{err}");
    let err = open("dota", serde_json::json!({"root": dir.path().join("nope")})).err().unwrap();
    assert!(err.contains("is not a folder"), "{err}");
    let err = open("dota", serde_json::json!({"root": dir.path(), "classes": "c.txt"})).err().unwrap();
    assert!(err.contains("fixed class list"), "{err}");
}

#[test]
fn dota_folder_takes_classes_from_a_file_or_infers_them() {
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("images/a.png"), 12, 12);
    png(&dir.path().join("images/b.jpg.png"), 12, 12);
    write(&dir.path().join("labelTxt/a.txt"), "0 0 4 0 4 4 0 4 zebra-crossing\n0 0 1 0 1 1 0 1 bus 0\n");
    write(&dir.path().join("labelTxt/b.jpg.txt"), "0 0 4 0 4 4 0 4 bus 0\n");
    let ds = open("dota-folder", serde_json::json!({"root": dir.path()})).unwrap();
    let classes = ds.classes().unwrap();
    assert_eq!(classes.names.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["bus", "zebra-crossing"]);
    assert_eq!(ds.len().unwrap(), 2);
    assert_eq!(ds.sample(0).unwrap().objects[0].class_id, 1);

    let list = dir.path().join("my_classes.txt");
    write(&list, "zebra-crossing\nbus\ncar\n");
    let ds = open("dota-folder", serde_json::json!({"root": dir.path(), "classes": list})).unwrap();
    assert_eq!(ds.classes().unwrap().len(), 3);
    assert_eq!(ds.sample(0).unwrap().objects[0].class_id, 0);
}

#[test]
fn reads_the_mmrotate_sample_with_labeltxt_and_rgba_png() {
    // The real mmrotate test sample (shared test data, next to the repository).
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/mmrotate-samples/dota");
    let ds = open("dota", serde_json::json!({"root": sample.parent().unwrap(), "split": "dota"})).unwrap();
    assert_eq!(ds.len().unwrap(), 1);
    let s = ds.sample(0).unwrap();
    assert_eq!(s.image.id.as_str(), "P2805__1024__0___0");
    assert_eq!(s.objects.len(), 4);
    assert_eq!(s.objects[0].quad.pts, [359.0, 663.0, 369.0, 497.0, 543.0, 509.0, 531.0, 677.0]);
}

#[test]
fn synthetic_reads_what_synth_writes() {
    assert_eq!(lmmrotate_dataset_dota::classes::SYNTHETIC, lmmrotate_synth::CLASSES);
    let dir = tempfile::tempdir().unwrap();
    let opts = lmmrotate_synth::SynthOptions {
        images: 3,
        scene: lmmrotate_synth::SceneConfig { width: 96, height: 64, ..Default::default() },
        ..Default::default()
    };
    let summary = lmmrotate_synth::write_dota_folder(dir.path(), &opts, &|_, _| {}).unwrap();
    let ds = open("synthetic", serde_json::json!({"root": dir.path()})).unwrap();
    assert_eq!(ds.len().unwrap(), 3);
    let total: usize = (0..3).map(|i| ds.sample(i).unwrap().objects.len()).sum();
    assert_eq!(total, summary.objects);
    assert_eq!(ds.sample(0).unwrap().image.width, 96);
    assert!(ds.problems().unwrap().is_empty());
}

/// `ROOT/trainval` with patches of DOTA images P0001 (train), P0002 (val) and P0003 (in neither
/// list), and the original image folders upstream lists the ids from.
fn train_val_layout(root: &Path) {
    for name in ["P0001__1024__0___0", "P0001__1024__824___0", "P0002__1024__0___0", "P0003__1024__0___0"] {
        png(&root.join(format!("split_ss_dota/trainval/images/{name}.png")), 8, 8);
        write(&root.join(format!("split_ss_dota/trainval/annfiles/{name}.txt")), "0 0 4 0 4 4 0 4 plane 0\n");
    }
    png(&root.join("DOTA/train/images/P0001.png"), 4, 4);
    write(&root.join("DOTA/train/labelTxt/P0001.txt"), "");
    write(&root.join("val_ids.txt"), "P0002\n\nP0004\n");
}

fn ids(ds: &DatasetBox) -> Vec<String> {
    (0..ds.len().unwrap()).map(|i| ds.sample(i).unwrap().image.id.as_str().to_string()).collect()
}

#[test]
fn train_and_val_are_selected_from_trainval_by_original_image_id() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    train_val_layout(root);
    let select = serde_json::json!({
        "train": {"from": "trainval", "ids": root.join("DOTA/train/images")},
        "val": {"from": "trainval", "ids": root.join("val_ids.txt")},
    });
    let cfg = |split: &str| serde_json::json!({"root": root.join("split_ss_dota"), "split": split, "select": select});
    // Upstream's rule, by hand: file_name[:5] in the train (P0001) / val (P0002) ids.
    let train = open("dota", cfg("train")).unwrap();
    assert_eq!(ids(&train), ["P0001__1024__0___0", "P0001__1024__824___0"]);
    assert_eq!(train.sample(0).unwrap().objects.len(), 1);
    let splits: Vec<String> = train.splits().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(splits, ["train", "trainval", "val"]);
    assert_eq!(ids(&open("dota", cfg("val")).unwrap()), ["P0002__1024__0___0"]);
    // Splits not in `select` are read as before.
    assert_eq!(open("dota", cfg("trainval")).unwrap().len().unwrap(), 4);
    // The labelTxt folder of the originals lists the same ids.
    let by_labels = serde_json::json!({"root": root.join("split_ss_dota"), "split": "train",
        "select": {"train": {"from": "trainval", "ids": root.join("DOTA/train/labelTxt")}}});
    assert_eq!(open("dota", by_labels).unwrap().len().unwrap(), 2);
}

#[test]
fn a_selection_that_takes_nothing_or_cannot_be_read_is_an_error_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    train_val_layout(root);
    write(&root.join("other_ids.txt"), "P0100\nP0101\n");
    let cfg = |ids: std::path::PathBuf| {
        serde_json::json!({"root": root.join("split_ss_dota"), "split": "train", "select": {"train": {"from": "trainval", "ids": ids}}})
    };
    let err = open("dota", cfg(root.join("other_ids.txt"))).err().unwrap();
    assert!(err.contains("select.train.ids") && err.contains("none of the 4 images of split \"trainval\""), "{err}");
    let err = open("dota", cfg(root.join("missing"))).err().unwrap();
    assert!(err.contains("select.train.ids") && err.contains("missing"), "{err}");
    let bad = serde_json::json!({"root": root.join("split_ss_dota"), "select": {"train": {"from": "trainval", "id": "x"}}});
    assert!(open("dota", bad).err().unwrap().contains("unknown field `id`"));
    let err = open("dota", serde_json::json!({"root": root.join("split_ss_dota"), "split": "train"})).err().unwrap();
    assert!(err.contains("split folder") && err.contains("train not found"), "{err}");
}

#[test]
fn dota_reads_upstreams_coco_trainval_json() {
    // Upstream scores DOTA trainval from COCO `trainval.json` (mmrotate's dota2coco output).
    let dir = tempfile::tempdir().unwrap();
    png(&dir.path().join("trainval/images/P0001__1024__0___0.png"), 20, 10);
    write(
        &dir.path().join("trainval.json"),
        r#"{"images": [{"id": 1, "file_name": "P0001__1024__0___0.png", "width": 20, "height": 10}],
            "categories": [{"id": 1, "name": "plane"}, {"id": 2, "name": "harbor"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [1, 2, 4, 4], "area": 16,
                             "iscrowd": 0, "segmentation": [[1, 2, 5, 2, 5, 6, 1, 6]]}]}"#,
    );
    let ds = open("dota", serde_json::json!({"root": dir.path(), "annotations": "trainval.json"})).unwrap();
    let s = ds.sample(0).unwrap();
    assert_eq!((s.objects.len(), s.objects[0].class_id, s.objects[0].quad.pts[2]), (1, 12, 5.0));
}
