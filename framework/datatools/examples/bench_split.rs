//! Benchmark of the DOTA split on synthetic 4000x4000 images: `cargo run --release -p
//! lmmrotate-datatools --example bench_split -- WORK_DIR [IMAGES]`. Writes `WORK_DIR/src`
//! (synthetic images + annfiles, not timed as part of the split) and `WORK_DIR/split`.

use lmmrotate_datatools::{split_dota, SplitConfig};
use lmmrotate_synth::{write_dota_folder, SceneConfig, SynthOptions};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let work = std::path::PathBuf::from(args.next().expect("usage: bench_split WORK_DIR [IMAGES]"));
    let n: usize = args.next().map(|s| s.parse().expect("IMAGES")).unwrap_or(4);
    let src = work.join("src");
    let opts = SynthOptions {
        images: n,
        seed: 1,
        prefix: "P".into(),
        // DOTA-like: thousands of pixels, objects at aerial sizes, a few hundred per image.
        scene: SceneConfig {
            width: 4000,
            height: 4000,
            min_objects: 250,
            max_objects: 350,
            object_scale: Some(1.5),
            max_roads: 6,
            ..Default::default()
        },
    };
    let t = Instant::now();
    let s = write_dota_folder(&src, &opts, &|_, _| {}).expect("synth");
    println!("synth: {} images, {} objects in {:.2} s", s.images, s.objects, t.elapsed().as_secs_f64());
    let cfg = SplitConfig {
        img_dirs: vec![src.join("images")],
        ann_dirs: Some(vec![src.join("annfiles")]),
        save_dir: work.join("split"),
        ..Default::default()
    };
    let t = Instant::now();
    let r = split_dota(&cfg, &|_, _| {}).expect("split");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "split (1024/200, rate 1.0): {} images -> {} patches, {} object lines in {secs:.2} s ({:.2} s/image, {} threads)",
        r.images,
        r.patches,
        r.objects,
        secs / r.images as f64,
        rayon::current_num_threads()
    );
}
