//! lmmrotate-synth: procedurally generated aerial-like scenes with oriented boxes, deterministic
//! from a seed, and a writer for DOTA-style folders (`images/`, `annfiles/`, `classes.txt`).
//!
//! The scenes are the project's embedded default dataset for demos, tests and benchmarks: object
//! classes differ clearly in shape and colour so that a small model can learn them.

mod folder;
mod noise;
mod render;
mod rng;
mod scene;

pub use folder::{write_dota_folder, SynthError, SynthOptions, SynthSummary};
pub use scene::{SceneConfig, CLASSES};

use image::RgbImage;

/// One generated object: the corners of its rotated rectangle in pixels (clockwise on screen),
/// its class id (index into [`CLASSES`]) and DOTA difficulty (always 0).
#[derive(Clone, Debug, PartialEq)]
pub struct SynthObject {
    pub quad: [f32; 8],
    pub class_id: usize,
    pub difficulty: u32,
}

/// A generated image with its objects.
#[derive(Clone, Debug)]
pub struct Scene {
    pub image: RgbImage,
    pub objects: Vec<SynthObject>,
}

/// Generates image `index` of the run seeded with `seed`. The result depends only on
/// `(cfg, seed, index)`, so images can be made in any order or in parallel.
pub fn generate(cfg: &SceneConfig, seed: u64, index: u64) -> Scene {
    let mut rng = rng::Rng::for_image(seed, index);
    let layout = scene::layout(cfg, &mut rng);
    let image = render::render(&layout);
    let objects = layout
        .objects
        .iter()
        .map(|o| {
            let c = o.corners();
            SynthObject {
                quad: [c[0][0], c[0][1], c[1][0], c[1][1], c[2][0], c[2][1], c[3][0], c[3][1]].map(|v| v as f32),
                class_id: o.kind.id(),
                difficulty: 0,
            }
        })
        .collect();
    Scene { image, objects }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_scene_other_seed_other_scene() {
        let cfg = SceneConfig { width: 160, height: 128, ..Default::default() };
        let a = generate(&cfg, 5, 2);
        let b = generate(&cfg, 5, 2);
        assert_eq!(a.image, b.image);
        assert_eq!(a.objects, b.objects);
        assert_eq!((a.image.width(), a.image.height()), (160, 128));
        assert_ne!(generate(&cfg, 6, 2).image, a.image);
    }

    #[test]
    fn objects_are_painted_inside_their_quads() {
        // The pixel at an object's centre differs from the same scene without objects.
        let cfg = SceneConfig { min_objects: 10, max_objects: 10, ..Default::default() };
        let mut rng = rng::Rng::for_image(1, 0);
        let mut layout = scene::layout(&cfg, &mut rng);
        let with = render::render(&layout);
        let objects = std::mem::take(&mut layout.objects);
        let without = render::render(&layout);
        assert!(!objects.is_empty());
        let changed = objects
            .iter()
            .filter(|o| with.get_pixel(o.cx as u32, o.cy as u32) != without.get_pixel(o.cx as u32, o.cy as u32))
            .count();
        assert!(changed * 10 >= objects.len() * 9, "{changed} of {}", objects.len());
    }
}
