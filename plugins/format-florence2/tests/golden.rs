//! Golden tests against `scripts/goldens/florence2_formats.py` (see tests/golden/README.md):
//! responses byte for byte, decoded boxes bit for bit, WRatio against rapidfuzz.

mod common;

use common::*;
use lmmrotate_abi::{FormatPlugin, PluginKind};
use lmmrotate_florence2_text::{fuzzy, Version};
use lmmrotate_format_florence2::{Config, Florence2};

fn format(version: Version, quantize: &str) -> Florence2 {
    Florence2::from_config(version, "test", &format!(r#"{{"quantize": "{quantize}"}}"#)).unwrap()
}

#[test]
fn encode_matches_upstream_converter() {
    let g = golden("encode.json");
    let cases = g["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let quantize = if case["integer"].as_bool().unwrap() { "f32" } else { "f64" };
        let img = image(case["width"].as_u64().unwrap() as u32, case["height"].as_u64().unwrap() as u32);
        let (objects, classes) = (objects_of(case), classes_of(case));
        for (version, key) in [(Version::V1, "v1"), (Version::V2, "v2"), (Version::V3, "v3")] {
            let got = format(version, quantize).encode(&objects, &img, &classes).unwrap();
            assert_eq!(got.as_deref(), case[key].as_str(), "case {name}, {key}");
        }
    }
}

#[test]
fn worked_example_v2_string_from_the_spec() {
    // upstream.md §2.4, copied from the spec rather than from the golden file.
    let expected = "plane<loc_292><loc_48><loc_292><loc_97><loc_351><loc_97><loc_351><loc_48><sep><loc_175><loc_185><loc_97><loc_195><loc_107><loc_263><loc_185><loc_253>small vehicle<loc_500><loc_500><loc_500><loc_509><loc_519><loc_509><loc_519><loc_500>";
    let g = golden("encode.json");
    let case = &g["cases"][0];
    assert_eq!(case["name"], "worked_example");
    let got = Florence2::from_config(Version::V2, "v2", "{}")
        .unwrap()
        .encode(&objects_of(case), &image(1024, 1024), &classes_of(case))
        .unwrap();
    assert_eq!(got.as_deref(), Some(expected));
    // The float32 path gives 499 for x = 512 (upstream.md §2.3).
    let f32 = format(Version::V2, "f32").encode(&objects_of(case), &image(1024, 1024), &classes_of(case)).unwrap().unwrap();
    assert!(f32.ends_with("small vehicle<loc_499><loc_499><loc_499><loc_509><loc_519><loc_509><loc_519><loc_499>"), "{f32}");
}

#[test]
fn decode_matches_upstream_parser_and_eval() {
    let g = golden("decode.json");
    let v2 = Florence2::from_config(Version::V2, "v2", "{}").unwrap();
    let mut fuzzy_seen = 0;
    for case in g["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let img = image(case["width"].as_u64().unwrap() as u32, case["height"].as_u64().unwrap() as u32);
        let d = v2.decode(text, &img, &classes_of(case));
        let boxes = case["boxes"].as_array().unwrap();
        assert_eq!(d.detections.len(), boxes.len(), "{text:?}");
        for (det, b) in d.detections.iter().zip(boxes) {
            assert_eq!(det.class_id as u64, b["class"].as_u64().unwrap(), "{text:?}");
            let want: Vec<f32> = b["pts"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(det.quad.pts.to_vec(), want, "{text:?}");
            assert!(det.score.is_none());
        }
        let fz = case["fuzzy"].as_array().unwrap();
        assert_eq!(d.fuzzy.len(), fz.len(), "{text:?}");
        for (m, f) in d.fuzzy.iter().zip(fz) {
            assert_eq!(m.label.as_str(), f["label"].as_str().unwrap());
            assert_eq!(m.class_id as u64, f["class"].as_u64().unwrap(), "{text:?}");
            assert_eq!(m.score, f["score"].as_f64().unwrap() as f32, "{text:?}");
            fuzzy_seen += 1;
        }
    }
    assert!(fuzzy_seen >= 5);
}

#[test]
#[allow(clippy::excessive_precision)] // the literals are torch's printed float32 values, kept verbatim
fn worked_parse_exact_float32_values() {
    // upstream.md §2.4/§2.5: torch gives 299.52001953125 for bin 292 at 1024.
    let text = "plane<loc_292><loc_48><loc_292><loc_97><loc_351><loc_97><loc_351><loc_48><sep><loc_175><loc_185><loc_97><loc_195><loc_107><loc_263><loc_185><loc_253>small vehicle<loc_500><loc_500><loc_500><loc_509><loc_519><loc_509><loc_519><loc_500>";
    let v2 = Florence2::from_config(Version::V2, "v2", "{}").unwrap();
    let classes = lmmrotate_abi::ClassTable::from_names(&DOTA);
    let d = v2.decode(text, &image(1024, 1024), &classes);
    let got: Vec<(u32, [f32; 8])> = d.detections.iter().map(|x| (x.class_id, x.quad.pts)).collect();
    let want: Vec<(u32, [f32; 8])> = vec![
        (0, [299.52001953125, 49.66400146484375, 299.52001953125, 99.84000396728516, 359.9360046386719, 99.84000396728516, 359.9360046386719, 49.66400146484375]),
        (0, [179.71200561523438, 189.95201110839844, 99.84000396728516, 200.1920166015625, 110.08000183105469, 269.8240051269531, 189.95201110839844, 259.5840148925781]),
        (4, [512.5120239257812, 512.5120239257812, 512.5120239257812, 521.72802734375, 531.968017578125, 521.72802734375, 531.968017578125, 512.5120239257812]),
    ];
    assert_eq!(got, want);
    assert!(d.dropped.is_empty() && d.fuzzy.is_empty());
    // v1 (no <sep>) gives one 16-value polygon, cut into the same two boxes.
    let v1 = v2.decode(&text.replace("<sep>", ""), &image(1024, 1024), &classes);
    assert_eq!(v1.detections, d.detections);
}

#[test]
fn wratio_matches_rapidfuzz() {
    let g = golden("wratio.json");
    let rows = g["cases"].as_array().unwrap();
    assert!(rows.len() > 1000);
    for r in rows {
        let (a, b, want) = (r[0].as_str().unwrap(), r[1].as_str().unwrap(), r[2].as_f64().unwrap());
        let got = fuzzy::wratio(a, b);
        assert!((got - want).abs() < 1e-9, "WRatio({a:?}, {b:?}) = {got}, rapidfuzz {want}");
    }
}

#[test]
fn entries_are_registered_and_validate_config() {
    use lmmrotate_abi::{abi_stable::std_types::RSlice, Factory, NullHost};
    for name in ["v1", "v2", "v3"] {
        let entry = lmmrotate_abi::plugin::find(PluginKind::Format, name).expect(name);
        let Factory::Format(make) = entry.factory else { panic!("{name} is not a format") };
        let f = make("{}", NullHost::boxed()).unwrap();
        let p = f.prompt().unwrap();
        assert_eq!((p.task.as_str(), p.text.as_str()), ("<ROD>", "Locate the objects tightly with quad boxes and category names in the image."));
        let empty = f.encode(RSlice::from_slice(&[]), &image(10, 10), &lmmrotate_abi::ClassTable::from_names(&DOTA)).unwrap();
        assert_eq!(empty.into_option().map(|s| s.to_string()), (name == "v3").then(|| "There are none.".to_string()));
        let err = make(r#"{"fuzzy": 1}"#, NullHost::boxed()).err().expect("unknown key must fail");
        assert!(err.to_string().contains("fuzzy"), "{err}");
    }
    assert_eq!(Config::from_json("v2", "{}").unwrap(), Config::default());
}
