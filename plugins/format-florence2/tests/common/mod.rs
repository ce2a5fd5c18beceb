//! Helpers shared by the integration tests: golden files, images, objects.

#![allow(dead_code)] // each test file uses a different subset

use lmmrotate_abi::{ClassTable, ImageMeta, Object, Quad};
use serde_json::Value;

pub const DOTA: [&str; 15] = [
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle", "large-vehicle", "ship",
    "tennis-court", "basketball-court", "storage-tank", "soccer-ball-field", "roundabout", "harbor",
    "swimming-pool", "helicopter",
];

pub fn golden(name: &str) -> Value {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn image(w: u32, h: u32) -> ImageMeta {
    ImageMeta { id: "img".into(), path: "img.png".into(), width: w, height: h }
}

pub fn classes_of(case: &Value) -> ClassTable {
    let names: Vec<&str> = case["classes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    ClassTable::from_names(&names)
}

pub fn objects_of(case: &Value) -> Vec<Object> {
    case["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let p: Vec<f32> = o["poly"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            Object { quad: Quad::new(p.try_into().unwrap()), class_id: o["class"].as_u64().unwrap() as u32, difficulty: 0 }
        })
        .collect()
}
