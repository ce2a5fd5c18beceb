//! Decode throughput (boxes/s) on long v2 responses:
//! `cargo run --release -p lmmrotate-format-florence2 --example bench_decode`.

use lmmrotate_abi::{ClassTable, FormatPlugin, ImageMeta};
use lmmrotate_florence2_text::Version;
use lmmrotate_format_florence2::Florence2;
use std::time::Instant;

const DOTA: [&str; 15] = [
    "plane", "baseball-diamond", "bridge", "ground-track-field", "small-vehicle", "large-vehicle", "ship",
    "tennis-court", "basketball-court", "storage-tank", "soccer-ball-field", "roundabout", "harbor",
    "swimming-pool", "helicopter",
];

/// A v2 response with `n` boxes spread over the 15 classes, plus one misspelt (fuzzy) class.
fn response(n: usize) -> String {
    let mut s = String::new();
    let per = n.div_ceil(16);
    for (g, name) in DOTA.iter().map(|c| c.replace('-', " ")).chain(["smal vehicles".to_string()]).enumerate() {
        s.push_str(&name);
        for i in 0..per.min(n.saturating_sub(g * per)) {
            if i > 0 {
                s.push_str("<sep>");
            }
            for k in 0..8 {
                s.push_str(&format!("<loc_{}>", (g * 131 + i * 17 + k * 97) % 1000));
            }
        }
    }
    s
}

fn main() {
    let f = Florence2::from_config(Version::V2, "v2", "{}").expect("default config");
    let classes = ClassTable::from_names(&DOTA);
    let image = ImageMeta { id: "bench".into(), path: String::new().into(), width: 1024, height: 1024 };
    println!("{:>8} {:>10} {:>8} {:>14}", "boxes", "bytes", "reps", "boxes/s");
    for n in [225, 2_000, 100_000] {
        let text = response(n);
        let boxes = f.decode(&text, &image, &classes).detections.len();
        assert_eq!(boxes, n);
        let reps = (2_000_000 / n).max(5);
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(f.decode(std::hint::black_box(&text), &image, &classes));
        }
        let rate = (boxes * reps) as f64 / t.elapsed().as_secs_f64();
        println!("{n:>8} {:>10} {reps:>8} {rate:>14.0}", text.len());
    }
}
