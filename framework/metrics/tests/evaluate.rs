//! End-to-end checks of `evaluate` on tiny hand-computed datasets (expected values derived by
//! hand in the comments, never by the code under test).

use lmmrotate_geometry::RBox;
use lmmrotate_metrics::{evaluate, EvalImage, EvalInput, EvalOptions, Labeled, Scored};

fn sq(x: f64, y: f64) -> RBox {
    RBox::new(x + 5.0, y + 5.0, 10.0, 10.0, 0.0)
}

fn gt(class: usize, r: RBox) -> Labeled {
    Labeled { class, rbox: r }
}

fn det(class: usize, r: RBox, score: f32) -> Scored {
    Scored { class, rbox: r, score }
}

fn input(classes: &[&str], images: Vec<EvalImage>, has_scores: bool) -> EvalInput {
    EvalInput { classes: classes.iter().map(|s| s.to_string()).collect(), images, has_scores, skipped_lines: 0 }
}

fn img(id: &str, gts: Vec<Labeled>, ignored: Vec<Labeled>, dets: Vec<Scored>) -> EvalImage {
    EvalImage { id: id.into(), gts, ignored, dets }
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn upstream_mf1_mini_example() {
    // upstream.md §7.2: GT a(A), b(B); d1: A on a (IoU 0.8), d2: A on b (IoU 0.6), d3: B on nothing.
    // Shifting a 10x10 square by dx along x gives IoU (100 - 10dx) / (100 + 10dx):
    // 0.8 at dx = 10/9, 0.6 at dx = 2.5.
    let a = sq(0.0, 0.0);
    let b = sq(100.0, 0.0);
    let images = vec![img(
        "i",
        vec![gt(0, a), gt(1, b)],
        vec![],
        vec![det(0, sq(10.0 / 9.0, 0.0), 1.0), det(0, sq(102.5, 0.0), 1.0), det(1, sq(500.0, 500.0), 1.0)],
    )];
    let r = evaluate(&input(&["A", "B"], images, false), &EvalOptions::default()).unwrap();
    assert_eq!(r.confusion_matrix, vec![vec![1, 0, 0], vec![1, 0, 1], vec![0, 1, 0]]);
    close(r.mean_precision, 1.0 / 6.0);
    close(r.mean_recall, 1.0 / 3.0);
    close(r.mf1, 2.0 / 9.0);
    close(r.mean_precision_no_background, 0.25);
    close(r.mean_recall_no_background, 0.5);
    close(r.mf1_no_background, 1.0 / 3.0);
    // mAP: A has 1 gt, ranking TP FP → AP 1; B has 1 gt, only an FP → 0; mean 0.5.
    close(r.map_nc_11points, 0.5);
    close(r.map_nc_area, 0.5);
    assert_eq!(r.map_11points, None);
}

#[test]
fn greedy_matching_like_tpfp_default() {
    // Class A (id 0). Image 1: g1, g2 far apart; g3 and g4 overlapping (IoU 90/110).
    //   d1 = g1 exactly → TP; d2 on g1 (IoU 0.8) → FP (second hit);
    //   da = g3 exactly → TP; db at g3 + 0.2 → IoU 0.96 with g3 (covered), 0.85 with g4 → FP,
    //   no fall-back to g4.
    // Image 2: g5, an ignored gt i1. di = i1 exactly → neither; dfar → FP; d5 = g5 → TP.
    // A class-B detection with no B ground truth anywhere: class B is left out of the mean.
    let images = vec![
        img(
            "1",
            vec![gt(0, sq(0.0, 0.0)), gt(0, sq(100.0, 0.0)), gt(0, sq(200.0, 0.0)), gt(0, sq(201.0, 0.0))],
            vec![],
            vec![
                det(0, sq(0.0, 0.0), 1.0),
                det(0, sq(10.0 / 9.0, 0.0), 1.0),
                det(0, sq(200.0, 0.0), 1.0),
                det(0, sq(200.2, 0.0), 1.0),
            ],
        ),
        img(
            "2",
            vec![gt(0, sq(0.0, 0.0))],
            vec![gt(0, sq(50.0, 0.0))],
            vec![
                det(0, sq(50.0, 0.0), 1.0),
                det(0, sq(300.0, 300.0), 1.0),
                det(0, sq(0.0, 0.0), 1.0),
                det(1, sq(0.0, 0.0), 1.0),
            ],
        ),
    ];
    let r = evaluate(&input(&["A", "B"], images, false), &EvalOptions::default()).unwrap();
    // Ranking TP FP TP FP N FP TP over 5 gts: recall .2 .2 .4 .4 .4 .4 .6,
    // precision 1 .5 2/3 .5 .5 .4 .5.
    // 11 points: t = 0, .1, .2 → 1; t = 0.30000000000000004, 0.4 → 2/3; t = 0.5 → 1/2;
    // t = 0.6000000000000001 > 3/5 → 0; above → 0. AP = (3 + 4/3 + 1/2) / 11 = 29/66.
    close(r.map_nc_11points, 29.0 / 66.0);
    // area: .2 · 1 + .2 · 2/3 + .2 · 1/2 = 13/30.
    close(r.map_nc_area, 13.0 / 30.0);
    let a = &r.per_class[0];
    assert_eq!((a.gts, a.dets), (5, 7));
    close(a.recall, 0.6);
    close(a.precision, 0.5);
    let b = &r.per_class[1];
    assert_eq!((b.gts, b.dets, b.ap_nc_11points), (0, 1, 0.0));
}

#[test]
fn scores_rank_and_decide_the_greedy_order() {
    // One class, 2 gts. Model order: dA (IoU 0.6 on g1, score .8), dB (g1 exactly, score .9),
    // dC (nothing, score .95), dD (g2 exactly, score .7).
    // mAP_nc (model order): dA TP, dB FP, dC FP, dD TP → recall .5 .5 .5 1, precision 1 .5 1/3 .5
    //   11 points: t <= .5 → 1 (6 points), t >= .6 → .5 (5 points): (6 + 2.5)/11 = 17/22;
    //   area: .5 · 1 + .5 · .5 = .75.
    // mAP (scores): dC FP, dB TP (takes g1 first), dA FP, dD TP → recall 0 .5 .5 1,
    //   precision 0 .5 1/3 .5 → 11 points all .5 → .5; area: .5 · .5 + .5 · .5 = .5.
    let g1 = sq(0.0, 0.0);
    let g2 = sq(100.0, 0.0);
    let images = vec![img(
        "x",
        vec![gt(0, g1), gt(0, g2)],
        vec![],
        vec![det(0, sq(2.5, 0.0), 0.8), det(0, g1, 0.9), det(0, sq(300.0, 0.0), 0.95), det(0, g2, 0.7)],
    )];
    let r = evaluate(&input(&["A"], images, true), &EvalOptions::default()).unwrap();
    close(r.map_nc_11points, 17.0 / 22.0);
    close(r.map_nc_area, 0.75);
    close(r.map_11points.unwrap(), 0.5);
    close(r.map_area.unwrap(), 0.5);
    // mF1 counts both hits on g1 as TP (no one-to-one matching): CM[A][A] = 3, CM[bg][A] = 1.
    assert_eq!(r.confusion_matrix, vec![vec![3, 0], vec![1, 0]]);
    // f1_score_thr drops dD and dA: CM[A][A] = 1 (dB), g2 missed, dC background.
    let opts = EvalOptions { f1_score_thr: 0.85, ..EvalOptions::default() };
    let r = evaluate(&input(&["A"], r_images(), true), &opts).unwrap();
    assert_eq!(r.confusion_matrix, vec![vec![1, 1], vec![1, 0]]);

    fn r_images() -> Vec<EvalImage> {
        let g1 = sq(0.0, 0.0);
        let g2 = sq(100.0, 0.0);
        vec![img(
            "x",
            vec![gt(0, g1), gt(0, g2)],
            vec![],
            vec![det(0, sq(2.5, 0.0), 0.8), det(0, g1, 0.9), det(0, sq(300.0, 0.0), 0.95), det(0, g2, 0.7)],
        )]
    }
}

#[test]
fn tie_samples_are_seeded_and_measure_order_dependence() {
    // 1 gt; dets: a duplicate FP and the TP. Model order TP, FP → AP 1. Over random orders the
    // TP comes first half of the time (AP 1), otherwise FP, TP → precision 0, .5 → AP .5.
    let g = sq(0.0, 0.0);
    let images = vec![img("x", vec![gt(0, g)], vec![], vec![det(0, g, 1.0), det(0, sq(300.0, 0.0), 1.0)])];
    let inp = input(&["A"], images, false);
    let opts = EvalOptions { tie_samples: 200, tie_seed: 3, ..EvalOptions::default() };
    let r = evaluate(&inp, &opts).unwrap();
    close(r.map_nc_11points, 1.0);
    let t = r.tie_samples.clone().unwrap();
    assert_eq!(t.samples, 200);
    assert!(t.map_nc_11points.mean > 0.65 && t.map_nc_11points.mean < 0.85, "{t:?}");
    assert!(t.map_nc_11points.sd > 0.2, "{t:?}");
    assert_eq!((t.map_nc_11points.min, t.map_nc_11points.max), (0.5, 1.0));
    assert_eq!(evaluate(&inp, &opts).unwrap().tie_samples, Some(t));
}

#[test]
fn report_json_has_the_documented_keys() {
    let images = vec![img("x", vec![gt(0, sq(0.0, 0.0))], vec![], vec![det(0, sq(0.0, 0.0), 0.5)])];
    let r = evaluate(&input(&["small-vehicle", "plane"], images, true), &EvalOptions::default()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    for k in [
        "map_nc_11points",
        "map_nc_area",
        "map_11points",
        "map_area",
        "mf1",
        "mean_precision",
        "mean_recall",
        "mf1_no_background",
    ] {
        assert!(v.get(k).is_some_and(|x| x.is_number()), "missing {k}");
    }
    let pc = v["per_class"].as_object().unwrap();
    assert_eq!(pc.len(), 2);
    // Class order is kept in the text (serde_json's Value would sort the keys).
    let json = r.to_json();
    assert!(json.find("\"small-vehicle\": {").unwrap() < json.find("\"plane\": {").unwrap(), "{json}");
    assert_eq!(pc["small-vehicle"]["gts"], 1);
    assert_eq!(pc["small-vehicle"]["ap_11points"], 1.0);
    let text = r.to_text();
    assert!(text.contains("| small-vehicle |") && text.contains("mAP_nc (11 points) 1.0000"), "{text}");
    let md = r.to_markdown();
    assert!(md.starts_with("| class | gts | dets | recall | precision | ap_nc | ap |\n| --- | ---: |"), "{md}");

    let no_scores = evaluate(&input(&["a"], vec![], false), &EvalOptions::default()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&no_scores.to_json()).unwrap();
    assert!(v.get("map_11points").is_none() && v.get("map_area").is_none());
    assert_eq!(v["map_nc_11points"], 0.0);
}

#[test]
fn bad_options_and_classes_are_errors() {
    let inp = input(&["a"], vec![img("x", vec![gt(3, sq(0.0, 0.0))], vec![], vec![])], false);
    assert!(evaluate(&inp, &EvalOptions::default()).unwrap_err().to_string().contains("class id 3"));
    let ok = input(&["a"], vec![], false);
    assert!(evaluate(&ok, &EvalOptions { iou_thr: 0.0, ..EvalOptions::default() }).is_err());
    assert!(evaluate(&ok, &EvalOptions { iou_thr: f64::NAN, ..EvalOptions::default() }).is_err());
}
