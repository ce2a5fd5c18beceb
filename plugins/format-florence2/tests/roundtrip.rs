//! decode(encode(objects)) gives every box back within half a bin, in the same class.

mod common;

use common::*;
use lmmrotate_abi::{ClassTable, FormatPlugin, Object, Quad};
use lmmrotate_florence2_text::{normalize_polygon, Version};
use lmmrotate_format_florence2::Florence2;
use proptest::prelude::*;

fn objects(w: u32, h: u32) -> impl Strategy<Value = Vec<Object>> {
    let obj = (0u32..15, prop::array::uniform8(0.0f32..1.0)).prop_map(move |(c, u)| {
        let mut pts = [0f32; 8];
        for k in 0..8 {
            // Strictly inside the image: clamping is the one lossy step of the encoder.
            pts[k] = (u[k] * if k % 2 == 0 { w } else { h } as f32).floor();
        }
        Object { quad: Quad::new(pts), class_id: c, difficulty: 0 }
    });
    prop::collection::vec(obj, 1..40)
}

fn check(version: Version, quantize: &str, w: u32, h: u32, objs: &[Object]) {
    let f = Florence2::from_config(version, "test", &format!(r#"{{"quantize": "{quantize}"}}"#)).unwrap();
    let classes = ClassTable::from_names(&DOTA);
    let img = image(w, h);
    let text = f.encode(objs, &img, &classes).unwrap().unwrap();
    let d = f.decode(&text, &img, &classes);
    assert_eq!(d.detections.len(), objs.len(), "{text}");
    assert!(d.dropped.is_empty() && d.fuzzy.is_empty());
    let (bx, by) = (w as f32 / 1000.0, h as f32 / 1000.0);
    let mut used = vec![false; objs.len()];
    for det in d.detections.iter() {
        let hit = objs.iter().enumerate().position(|(i, o)| {
            let want = normalize_polygon(o.quad.pts.map(f64::from));
            !used[i]
                && o.class_id == det.class_id
                && (0..8).all(|k| {
                    let half = if k % 2 == 0 { bx } else { by } / 2.0;
                    (det.quad.pts[k] - want[k] as f32).abs() <= half * 1.0001
                })
        });
        let i = hit.unwrap_or_else(|| panic!("no source object for {det:?} in {text}"));
        used[i] = true;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn round_trip_within_half_a_bin(objs in objects(1024, 1024), v in 0usize..3, f32path: bool) {
        let version = [Version::V1, Version::V2, Version::V3][v];
        check(version, if f32path { "f32" } else { "f64" }, 1024, 1024, &objs);
    }

    #[test]
    fn round_trip_non_square(objs in objects(1333, 777)) {
        check(Version::V2, "f64", 1333, 777, &objs);
    }
}
