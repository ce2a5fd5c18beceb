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
