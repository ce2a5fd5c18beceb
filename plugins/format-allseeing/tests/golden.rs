//! allseeing against the goldens of format-florence2 (`scripts/goldens/florence2_formats.py`):
//! encode byte for byte, and decode(allseeing) == decode(v2) for the same objects.

use lmmrotate_abi::{ClassTable, FormatPlugin, ImageMeta, Object, PluginKind, Quad};
use lmmrotate_format_allseeing::AllSeeing;
use proptest::prelude::*;
use serde_json::Value;

fn golden() -> Value {
    let path = format!("{}/../format-florence2/tests/golden/encode.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn image(w: u64, h: u64) -> ImageMeta {
    ImageMeta { id: "img".into(), path: "img.png".into(), width: w as u32, height: h as u32 }
}

fn case_inputs(case: &Value) -> (Vec<Object>, ClassTable, ImageMeta) {
    let names: Vec<&str> = case["classes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let objects = case["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let p: Vec<f32> = o["poly"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            Object { quad: Quad::new(p.try_into().unwrap()), class_id: o["class"].as_u64().unwrap() as u32, difficulty: 0 }
        })
        .collect();
    (objects, ClassTable::from_names(&names), image(case["width"].as_u64().unwrap(), case["height"].as_u64().unwrap()))
}

#[test]
fn encode_matches_upstream_and_decodes_like_v2() {
    let g = golden();
    for case in g["cases"].as_array().unwrap() {
        let quantize = if case["integer"].as_bool().unwrap() { "f32" } else { "f64" };
        let f = AllSeeing::from_config(&format!(r#"{{"quantize": "{quantize}"}}"#)).unwrap();
        let (objects, classes, img) = case_inputs(case);
        let got = f.encode(&objects, &img, &classes).unwrap();
        assert_eq!(got.as_deref(), case["allseeing"].as_str(), "case {}", case["name"]);
        if let Some(text) = got {
            let d = f.decode(&text, &img, &classes);
            assert!(d.dropped.is_empty(), "{:?}", d.dropped);
            assert_eq!(d.detections.len(), objects.len());
        }
    }
    let worked = g["cases"][0]["allseeing"].as_str().unwrap();
    assert_eq!(worked, "<ref>plane</ref><box>[[292, 48, 292, 97, 351, 97, 351, 48], [175, 185, 97, 195, 107, 263, 185, 253]]</box><ref>small vehicle</ref><box>[[500, 500, 500, 509, 519, 509, 519, 500]]</box>");
}

#[test]
fn entry_is_registered() {
    let e = lmmrotate_abi::plugin::find(PluginKind::Format, "allseeing").unwrap();
    let lmmrotate_abi::Factory::Format(make) = e.factory else { panic!("not a format") };
    assert!(make("{}", lmmrotate_abi::NullHost::boxed()).is_ok());
    assert!(make(r#"{"bins": 999}"#, lmmrotate_abi::NullHost::boxed()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Decoding never panics on allseeing-like garbage.
    #[test]
    fn decode_never_panics(parts in prop::collection::vec(prop_oneof![
        Just("<ref>".to_string()), Just("</ref>".to_string()), Just("<box>".to_string()), Just("</box>".to_string()),
        Just("<pred>".to_string()), Just("[".to_string()), Just("]".to_string()), Just(", ".to_string()),
        Just("\n".to_string()), (0u64..2000).prop_map(|k| k.to_string()), "\\PC{0,4}", Just("{\"a\": 1}".to_string()),
        Just("\"12\"".to_string()), Just("1.5".to_string()), Just("null".to_string()),
    ], 0..60)) {
        let f = AllSeeing::from_config("{}").unwrap();
        let classes = ClassTable::from_names(&["plane", "ship"]);
        let _ = f.decode(&parts.concat(), &image(1024, 1024), &classes);
    }
}
