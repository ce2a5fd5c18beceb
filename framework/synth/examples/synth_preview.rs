//! Writes a few synthetic scenes with their boxes drawn in, to look at: `cargo run --release
//! -p lmmrotate-synth --example synth_preview -- OUT_DIR [N] [SIZE]`.

use lmmrotate_synth::{generate, SceneConfig, CLASSES};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().expect("usage: synth_preview OUT_DIR [N] [SIZE]"));
    let n: u64 = args.next().map(|s| s.parse().expect("N")).unwrap_or(4);
    let size: u32 = args.next().map(|s| s.parse().expect("SIZE")).unwrap_or(512);
    std::fs::create_dir_all(&out).expect("creating OUT_DIR");
    let cfg = SceneConfig { width: size, height: size, ..Default::default() };
    for i in 0..n {
        let scene = generate(&cfg, 0, i);
        scene.image.save(out.join(format!("scene_{i}.png"))).expect("saving");
        let mut boxed = scene.image.clone();
        for o in &scene.objects {
            // Box outlines in a class colour, to check that quads are tight.
            let color = [[255, 0, 0], [0, 255, 255], [255, 0, 255], [255, 255, 0], [0, 255, 0], [255, 128, 0]][o.class_id];
            for k in 0..4 {
                let (x0, y0) = (o.quad[2 * k], o.quad[2 * k + 1]);
                let (x1, y1) = (o.quad[(2 * k + 2) % 8], o.quad[(2 * k + 3) % 8]);
                let steps = ((x1 - x0).abs().max((y1 - y0).abs()) * 2.0) as usize + 1;
                for s in 0..=steps {
                    let t = s as f32 / steps as f32;
                    let (x, y) = ((x0 + (x1 - x0) * t) as u32, (y0 + (y1 - y0) * t) as u32);
                    if x < boxed.width() && y < boxed.height() {
                        boxed.put_pixel(x, y, image::Rgb(color));
                    }
                }
            }
        }
        boxed.save(out.join(format!("scene_{i}_boxes.png"))).expect("saving");
        let names: Vec<&str> = scene.objects.iter().map(|o| CLASSES[o.class_id]).collect();
        println!("scene {i}: {} objects: {}", names.len(), names.join(", "));
    }
}
