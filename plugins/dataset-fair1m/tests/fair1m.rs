//! The FAIR1M entries on small folders made here: the XML layout, the DOTA-txt conversion, a
//! COCO JSON, FAIR1M-2.0's `validation` folder, and bad files with and without `skip_bad`.

use lmmrotate_abi::abi_stable::{sabi_trait::TD_Opaque, std_types::{RArc, RStr}};
use lmmrotate_abi::{host::Host_TO, DatasetBox, Host, HostBox, LogLevel, NullHost};
use std::path::Path;
use std::sync::{Arc, Mutex};

use lmmrotate_dataset_fair1m as _;

/// A host that keeps the log lines, to see what was counted.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Host for Recorder {
    fn log(&self, _: LogLevel, message: RStr<'_>) {
        self.0.lock().unwrap().push(message.to_string());
    }
    fn progress(&self, _: RStr<'_>, _: u64, _: u64) {}
    fn cancelled(&self) -> bool {
        false
    }
}

fn open_with(entry: &str, config: serde_json::Value, host: HostBox) -> Result<DatasetBox, String> {
    lmmrotate_testkit::open_dataset(entry, config, host)
}

fn open(entry: &str, config: serde_json::Value) -> Result<DatasetBox, String> {
    open_with(entry, config, NullHost::boxed())
}

fn problems(ds: &DatasetBox) -> Vec<String> {
    ds.problems().unwrap().into_iter().map(|s| s.into_string()).collect()
}

fn write(path: &Path, bytes: &[u8]) {
    lmmrotate_testkit::write_file(path, bytes);
}

/// A PNG file's signature and IHDR, all that the header reader needs.
fn png(path: &Path, w: u32, h: u32) {
    lmmrotate_testkit::write_file(path, lmmrotate_testkit::png_header(w, h));
}

fn object(name: &str, x: f32) -> String {
    format!(
        "    <object>\n      <possibleresult><name>{name}</name></possibleresult>\n      <points><point>{x},1</point><point>{},1</point>\
         <point>{},5</point><point>{x},5</point><point>{x},1</point></points>\n    </object>\n",
        x + 4.0,
        x + 4.0
    )
}

fn xml(objects: &[(&str, f32)]) -> String {
    let objs: String = objects.iter().map(|(n, x)| object(n, *x)).collect();
    format!("<?xml version=\"1.0\"?>\n<annotation>\n  <size><width>64</width><height>48</height></size>\n  <objects>\n{objs}  </objects>\n</annotation>\n")
}

#[test]
fn reads_the_xml_layout_and_counts_other_classes() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("train");
    png(&t.join("images/0.png"), 64, 48);
    png(&t.join("images/1.tif.png"), 32, 32);
    write(&t.join("labelXml/0.xml"), xml(&[("Small Car", 1.0), ("other-vehicle", 2.0), ("Passenger Ship", 10.0)]).as_bytes());
    write(&t.join("labelXml/1.tif.xml"), xml(&[]).as_bytes());
    png(&dir.path().join("test/images/9.png"), 8, 8);

    let rec = Recorder::default();
    let host = Host_TO::from_ptr(RArc::new(rec.clone()), TD_Opaque);
    let ds = open_with("fair1m", serde_json::json!({"root": dir.path()}), host).unwrap();
    assert_eq!(ds.classes().unwrap().len(), 34);
    let splits: Vec<String> = ds.splits().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(splits, ["test", "train"]);
    assert_eq!(ds.len().unwrap(), 2);
    let s = ds.sample(0).unwrap();
    assert_eq!((s.image.id.as_str(), s.image.width, s.image.height), ("0", 64, 48));
    let ids: Vec<u32> = s.objects.iter().map(|o| o.class_id).collect();
    assert_eq!(ids, [18, 10]);
    assert_eq!(s.objects[1].quad.pts, [10., 1., 14., 1., 14., 5., 10., 5.]);
    assert!(problems(&ds).is_empty());
    let log = rec.0.lock().unwrap().join("\n");
    assert!(log.contains("other-vehicle 1"), "{log}");

    // The unlabelled test split.
    let test = open("fair1m", serde_json::json!({"root": dir.path(), "split": "test"})).unwrap();
    assert_eq!((test.len().unwrap(), test.sample(0).unwrap().objects.len()), (1, 0));
}

#[test]
fn reads_the_dota_txt_conversion_with_multi_word_names() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("train");
    png(&t.join("images/P1__1024__0___0.png"), 1024, 1024);
    write(
        &t.join("annfiles/P1__1024__0___0.txt"),
        b"1 1 5 1 5 5 1 5 Dry Cargo Ship 0\n2 2 6 2 6 6 2 6 other-ship 2\n3 3 7 3 7 7 3 7 Truck Tractor 2\n",
    );
    let ds = open("fair1m", serde_json::json!({"root": dir.path()})).unwrap();
    let s = ds.sample(0).unwrap();
    let got: Vec<(u32, u32)> = s.objects.iter().map(|o| (o.class_id, o.difficulty)).collect();
    assert_eq!(got, [(16, 0), (26, 2)]);
}

#[test]
fn fair1m_2_0_reads_validation_as_val_and_coco_json() {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("validation");
    png(&v.join("images/5.png"), 40, 30);
    write(&v.join("labelXml/5.xml"), xml(&[("Bridge", 3.0)]).as_bytes());
    png(&dir.path().join("train/images/0.png"), 40, 30);
    let ds = open("fair1m-2.0", serde_json::json!({"root": dir.path(), "split": "val"})).unwrap();
    let splits: Vec<String> = ds.splits().unwrap().into_iter().map(|s| s.into_string()).collect();
    assert_eq!(splits, ["train", "val"]);
    assert_eq!(ds.sample(0).unwrap().objects[0].class_id, 33);
    // FAIR1M-1.0 has no validation split.
    let err = open("fair1m", serde_json::json!({"root": dir.path(), "split": "val"})).err().unwrap();
    assert!(err.contains("split folder") && err.contains("not found"), "{err}");

    // Upstream's `validation/val.json`, with an other-* category.
    let coco = serde_json::json!({
        "images": [{"id": 1, "file_name": "5.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": "Small Car"}, {"id": 2, "name": "other-vehicle"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]},
            {"id": 2, "image_id": 1, "category_id": 2, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]}
        ]
    });
    write(&v.join("val.json"), coco.to_string().as_bytes());
    let cfg = serde_json::json!({"root": dir.path(), "split": "val", "annotations": "validation/val.json"});
    let ds = open("fair1m-2.0", cfg).unwrap();
    let s = ds.sample(0).unwrap();
    assert_eq!((s.objects.len(), s.objects[0].class_id), (1, 18));
}

#[test]
fn bad_files_name_file_and_line_or_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("train");
    for id in ["a", "b", "c", "d"] {
        png(&t.join(format!("images/{id}.png")), 16, 16);
    }
    write(&t.join("labelXml/a.xml"), xml(&[("Bus", 1.0), ("Flying Saucer", 2.0)]).as_bytes());
    write(&t.join("labelXml/b.xml"), b"<annotation><objects><object>");
    write(&t.join("labelXml/c.txt"), b"1 2 3 4 5 6 7 8 Van 0\n1 2 3 4 5 6 7 8 Van\n");
    write(&t.join("labelXml/e.xml"), xml(&[]).as_bytes());

    let err = open("fair1m", serde_json::json!({"root": dir.path()})).err().unwrap();
    assert!(err.contains("a.xml:9: unknown class \"Flying Saucer\""), "{err}");
    let ds = open("fair1m", serde_json::json!({"root": dir.path(), "skip_bad": true})).unwrap();
    let p = problems(&ds);
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(p[0].contains("a.xml:9:"));
    assert!(p[1].contains("b.xml") && p[1].contains("not well-formed XML"));
    assert!(p[2].contains("c.txt:2:") && p[2].contains("9 fields"));
    assert!(p[3].contains("d.png") && p[3].contains("no annotation file"));
    assert!(p[4].contains("e.xml") && p[4].contains("no image"));
    // a keeps its Bus, b is left out, c keeps its first Van.
    assert_eq!(ds.len().unwrap(), 2);
    assert_eq!(ds.sample(0).unwrap().objects.len(), 1);
    assert_eq!(ds.sample(1).unwrap().objects[0].class_id, 22);
}
