//! Goldens made independently by `scripts/goldens/img_split_ref.py` (numpy + shapely + PIL, a
//! re-derivation of mmrotate's img_split and of upstream's balanced concat with CPython's
//! `random`). Regenerate with `.venv/bin/python scripts/goldens/img_split_ref.py`.

use lmmrotate_datatools::{epoch_indices, split_dota, DatasetMode, SplitConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

fn golden() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[derive(Deserialize, Debug, PartialEq)]
struct Patch {
    width: u32,
    height: u32,
    fnv1a64: String,
    ann: Vec<String>,
}

#[derive(Deserialize)]
struct Expected {
    sizes: Vec<u32>,
    gaps: Vec<u32>,
    rates: Vec<f64>,
    patches: BTreeMap<String, Patch>,
}

fn fnv1a64(data: &[u8]) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01B3);
    }
    format!("{h:016x}")
}

#[test]
fn split_matches_the_reference_patches_and_annfiles() {
    let exp: Expected = serde_json::from_str(&std::fs::read_to_string(golden().join("split/expected.json")).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let input = golden().join("split/input");
    let cfg = SplitConfig {
        img_dirs: vec![input.join("images")],
        ann_dirs: Some(vec![input.join("annfiles")]),
        sizes: exp.sizes,
        gaps: exp.gaps,
        rates: exp.rates,
        save_dir: out.path().to_path_buf(),
        ..Default::default()
    };
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let summary = split_dota(&cfg, &|_, total| {
        assert_eq!(total, 3);
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(calls.into_inner(), 3);
    assert_eq!(summary.images, 3);
    assert_eq!(summary.patches, exp.patches.len());
    let mut got = BTreeMap::new();
    for e in std::fs::read_dir(out.path().join("images")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let img = image::open(&p).unwrap().to_rgb8();
        let ann = std::fs::read_to_string(out.path().join("annfiles").join(format!("{name}.txt"))).unwrap();
        got.insert(
            name,
            Patch {
                width: img.width(),
                height: img.height(),
                fnv1a64: fnv1a64(img.as_raw()),
                ann: ann.lines().map(String::from).collect(),
            },
        );
    }
    assert_eq!(got.keys().collect::<Vec<_>>(), exp.patches.keys().collect::<Vec<_>>());
    for (name, p) in &exp.patches {
        assert_eq!(&got[name], p, "patch {name}");
    }
    // The padded patch really carries mmrotate's padding (BGR 104,116,124) bottom-right.
    let c = image::open(out.path().join("images/C__64__0___0.png")).unwrap().to_rgb8();
    assert_eq!(c.get_pixel(63, 63).0, [124, 116, 104]);
    assert_eq!(c.get_pixel(49, 44).0, image::open(input.join("images/C.png")).unwrap().to_rgb8().get_pixel(49, 44).0);
}

#[derive(Deserialize)]
struct Balanced {
    sizes: Vec<usize>,
    epoch: u64,
    indices: Vec<usize>,
}

#[test]
fn balanced_concat_matches_cpython() {
    let cases: Vec<Balanced> = serde_json::from_str(&std::fs::read_to_string(golden().join("balanced.json")).unwrap()).unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let got = epoch_indices(DatasetMode::Balanced, &c.sizes, c.epoch).unwrap();
        assert_eq!(got, c.indices, "sizes {:?} epoch {}", c.sizes, c.epoch);
    }
}

#[test]
fn missing_annfiles_are_reported_and_bad_lines_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let img_dir = dir.path().join("img");
    let ann_dir = dir.path().join("ann");
    std::fs::create_dir_all(&img_dir).unwrap();
    std::fs::create_dir_all(&ann_dir).unwrap();
    image::RgbImage::new(40, 30).save(img_dir.join("x.png")).unwrap();
    let cfg = SplitConfig {
        img_dirs: vec![img_dir.clone()],
        ann_dirs: Some(vec![ann_dir.clone()]),
        sizes: vec![32],
        gaps: vec![8],
        save_dir: dir.path().join("out"),
        ..Default::default()
    };
    let s = split_dota(&cfg, &|_, _| {}).unwrap();
    assert_eq!(s.missing_annfiles, vec![ann_dir.join("x.txt")]);
    std::fs::write(ann_dir.join("x.txt"), "1 2 3 4 5 6 7 x plane 0\n").unwrap();
    let err = split_dota(&cfg, &|_, _| {}).unwrap_err().to_string();
    assert!(err.ends_with("x.txt:1: bad coordinate \"x\""), "{err}");
}
