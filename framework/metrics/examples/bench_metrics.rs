//! Benchmark of the whole mAP_nc + mF1 computation on generated data: 10,000 images x 50
//! objects with 60 detections each (seeded). `cargo run --release -p lmmrotate-metrics --example
//! bench_metrics [runs]`; prints the median wall time of building the input (minimum-area
//! rectangles) and of `evaluate`.

use lmmrotate_geometry::{Quad, RBox};
use lmmrotate_metrics::rng::SplitMix64;
use lmmrotate_metrics::{
    evaluate, BuildOptions, ClassIndex, Detection, EvalInput, EvalOptions, GtImage, GtObject, PredImage,
};
use std::time::Instant;

const IMAGES: usize = 10_000;
const OBJECTS: usize = 50;
const DETECTIONS: usize = 60;
const CLASSES: usize = 15;

fn uniform(rng: &mut SplitMix64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn quad(r: &RBox) -> Quad {
    r.to_quad()
}

/// Objects spread over a 1024 x 1024 image; 45 detections jitter a random object (one in ten
/// with a wrong class), 15 are anywhere.
fn generate(seed: u64) -> (Vec<GtImage>, Vec<PredImage>) {
    let mut rng = SplitMix64::new(seed);
    let mut gts = Vec::with_capacity(IMAGES);
    let mut preds = Vec::with_capacity(IMAGES);
    for i in 0..IMAGES {
        let objects: Vec<(usize, RBox)> = (0..OBJECTS)
            .map(|_| {
                let r = RBox::new(
                    uniform(&mut rng, 0.0, 1024.0),
                    uniform(&mut rng, 0.0, 1024.0),
                    uniform(&mut rng, 8.0, 80.0),
                    uniform(&mut rng, 8.0, 40.0),
                    uniform(&mut rng, -1.6, 1.6),
                );
                (rng.below(CLASSES), r)
            })
            .collect();
        let mut dets = Vec::with_capacity(DETECTIONS);
        for k in 0..DETECTIONS {
            if k < 45 {
                let (c, o) = objects[rng.below(OBJECTS)];
                let class = if rng.below(10) == 0 { rng.below(CLASSES) } else { c };
                let r = RBox::new(
                    o.cx + uniform(&mut rng, -4.0, 4.0),
                    o.cy + uniform(&mut rng, -4.0, 4.0),
                    o.w * uniform(&mut rng, 0.8, 1.2),
                    o.h * uniform(&mut rng, 0.8, 1.2),
                    o.angle + uniform(&mut rng, -0.2, 0.2),
                );
                dets.push(Detection { class, quad: quad(&r), score: None });
            } else {
                let r = RBox::new(uniform(&mut rng, 0.0, 1024.0), uniform(&mut rng, 0.0, 1024.0), 30.0, 15.0, 0.3);
                dets.push(Detection { class: rng.below(CLASSES), quad: quad(&r), score: None });
            }
        }
        let id = format!("P{i:05}");
        gts.push(GtImage {
            id: id.clone(),
            objects: objects.iter().map(|(c, r)| GtObject { class: *c, quad: quad(r), difficulty: 0 }).collect(),
        });
        preds.push(PredImage { id, detections: dets });
    }
    (gts, preds)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let classes = ClassIndex::new((0..CLASSES).map(|k| format!("class-{k}"))).expect("distinct class names");
    let (gts, preds) = generate(42);
    let mut build_s = Vec::new();
    let mut eval_s = Vec::new();
    let mut report = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        let input =
            EvalInput::build(&classes, &gts, &preds, &BuildOptions::default()).expect("generated input is valid");
        let t1 = Instant::now();
        let r = evaluate(&input, &EvalOptions::default()).expect("default options are valid");
        let t2 = Instant::now();
        build_s.push((t1 - t0).as_secs_f64());
        eval_s.push((t2 - t1).as_secs_f64());
        report = Some(r);
    }
    let r = report.expect("at least one run");
    let total: Vec<f64> = build_s.iter().zip(&eval_s).map(|(a, b)| a + b).collect();
    println!(
        "{IMAGES} images x {OBJECTS} objects, {DETECTIONS} detections each, {} threads, {runs} runs",
        rayon::current_num_threads()
    );
    println!("build (minAreaRect) median {:.3} s", median(build_s));
    println!("evaluate (mAP_nc + mF1) median {:.3} s", median(eval_s));
    println!("total median {:.3} s", median(total));
    println!("mAP_nc {:.4}  mF1 {:.4}", r.map_nc_11points, r.mf1);
}
