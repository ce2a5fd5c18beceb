//! Compares `evaluate` with tests/golden/metrics_small.json, produced by an independent numpy +
//! shapely re-derivation of upstream's algorithms (regenerate: `.venv/bin/python
//! scripts/goldens/metrics_golden.py` from the repository root).

use lmmrotate_geometry::RBox;
use lmmrotate_metrics::{evaluate, EvalImage, EvalInput, EvalOptions, Labeled, Scored};
use serde_json::Value;

fn rbox(v: &Value) -> RBox {
    let f: Vec<f64> = v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    RBox::new(f[0], f[1], f[2], f[3], f[4])
}

fn labeled(v: &Value) -> Vec<Labeled> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| Labeled { class: o["class"].as_u64().unwrap() as usize, rbox: rbox(&o["rbox"]) })
        .collect()
}

#[test]
fn matches_python_rederivation() {
    let doc: Value = serde_json::from_str(include_str!("golden/metrics_small.json")).unwrap();
    let images = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|im| EvalImage {
            id: im["id"].as_str().unwrap().to_string(),
            gts: labeled(&im["gts"]),
            ignored: labeled(&im["ignored"]),
            dets: im["dets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| Scored {
                    class: d["class"].as_u64().unwrap() as usize,
                    rbox: rbox(&d["rbox"]),
                    score: d["score"].as_f64().unwrap() as f32,
                })
                .collect(),
        })
        .collect();
    let classes = doc["classes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    let input = EvalInput { classes, images, has_scores: true, skipped_lines: 0 };
    let r = evaluate(&input, &EvalOptions::default()).unwrap();
    let e = &doc["expected"];
    let got = serde_json::to_value(&r).unwrap();
    for k in [
        "map_nc_11points",
        "map_nc_area",
        "map_11points",
        "map_area",
        "mf1",
        "mean_precision",
        "mean_recall",
        "mf1_no_background",
        "mean_precision_no_background",
        "mean_recall_no_background",
    ] {
        let (g, w) = (got[k].as_f64().unwrap(), e[k].as_f64().unwrap());
        assert!((g - w).abs() < 1e-9, "{k}: got {g}, golden {w}");
    }
    assert_eq!(got["confusion_matrix"], e["confusion_matrix"]);
}
