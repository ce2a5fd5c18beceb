//! `lmmrotate predict`: a model and a response format on images or folders → detections as JSON
//! Lines and a drawn PNG per image (optionally the raw token ids and text).

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use lmmrotate_abi::{abi_stable::std_types::RString, ClassTable, GenBatch, GenOptions, ImageMeta};
use lmmrotate_core::images;
use rayon::prelude::*;
use std::{
    io::Write,
    path::{Path, PathBuf},
};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Response format the model was trained to emit.
    #[arg(long, default_value = "v2")]
    format: String,
    /// Class names in class-id order: comma separated, or a file with one name per line.
    #[arg(long, value_name = "LIST|FILE")]
    classes: String,
    /// Output folder: predictions.jsonl, vis/<image>.png, raw/<image>.json.
    #[arg(long, default_value = "predictions")]
    out: PathBuf,
    /// Also write the generated token ids and the text with special tokens, per image.
    #[arg(long)]
    raw: bool,
    /// Beams of the beam search (1 = greedy).
    #[arg(long, default_value_t = 3)]
    num_beams: u32,
    /// Most tokens to generate (0 = the model's text length).
    #[arg(long, default_value_t = 0)]
    max_new_tokens: u32,
    /// No n-gram of this size is generated twice (0 = off).
    #[arg(long, default_value_t = 3)]
    no_repeat_ngram_size: u32,
    /// Task prompt, e.g. `<ROD>`, `<OD>` [default: the format's].
    #[arg(long)]
    task: Option<String>,
    /// Model input size in pixels (overrides the registry's).
    #[arg(long)]
    image_size: Option<u32>,
    /// Images per generation batch.
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Image files or folders of images.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp"];

/// Files given, and the images inside folders given (sorted).
pub fn collect_images(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading folder {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_lowercase().as_str()))
                })
                .collect();
            found.sort();
            out.extend(found);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    Ok(out)
}

fn image_id(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn run(g: &Global, args: &Args) -> Result<Outcome> {
    let files = collect_images(&args.images)?;
    if files.is_empty() {
        bail!("no images found in {:?}", args.images);
    }
    let classes = ClassTable::from_names(&super::class_names(&args.classes)?);
    let mut extra = serde_json::Map::new();
    if let Some(s) = args.image_size {
        extra.insert("image_size".into(), s.into());
    }
    let overrides = args.model.overrides(None, extra)?;

    let plugins = super::open_plugins(g)?;
    let format = plugins.format(&args.format, &serde_json::json!({}))?;
    let mut model = plugins.model(&args.model.model, &overrides)?;
    let info = model.info()?;
    let prompt = match &args.task {
        Some(t) => t.clone(),
        None => format.prompt()?.task.to_string(),
    };
    let opts = GenOptions {
        num_beams: args.num_beams,
        max_new_tokens: args.max_new_tokens,
        no_repeat_ngram_size: args.no_repeat_ngram_size,
        ..GenOptions::default()
    };
    tracing::info!("{} on {} ({}), {} image(s)", args.model.model, info.device, info.backend, files.len());

    std::fs::create_dir_all(args.out.join("vis")).with_context(|| format!("creating {}", args.out.display()))?;
    if args.raw {
        std::fs::create_dir_all(args.out.join("raw"))?;
    }
    let jsonl_path = args.out.join("predictions.jsonl");
    let mut jsonl = std::fs::File::create(&jsonl_path).with_context(|| format!("creating {}", jsonl_path.display()))?;
    let bar = plugins.host().bar("predict", files.len() as u64);
    let mut dropped_total = 0u64;
    for chunk in files.chunks(args.batch_size.max(1)) {
        let loaded: Vec<_> = chunk
            .par_iter()
            .map(|p| images::open_rgb(p).map(|img| {
                let input = images::to_model_input(&img, &info.image);
                (img, input)
            }))
            .collect::<Result<_, _>>()?;
        let batch = GenBatch {
            images: loaded.iter().map(|(_, i)| i.clone()).collect(),
            prompts: vec![RString::from(prompt.as_str()); chunk.len()].into(),
        };
        let gens = model.generate(&batch, &opts)?;
        for ((path, (mut img, _)), gen) in chunk.iter().zip(loaded).zip(gens) {
            let id = image_id(path);
            let meta = ImageMeta { id: id.as_str().into(), path: path.display().to_string().into(), width: img.width(), height: img.height() };
            let decoded = format.decode(&gen.text, &meta, &classes)?;
            dropped_total += decoded.dropped.iter().map(|d| d.count as u64).sum::<u64>();
            let width = (img.width().max(img.height()) / 400).max(2);
            for d in decoded.detections.iter() {
                images::draw_quad(&mut img, &d.quad.pts, images::class_colour(d.class_id), width);
            }
            let vis = args.out.join("vis").join(format!("{id}.png"));
            img.save(&vis).with_context(|| format!("writing {}", vis.display()))?;
            let dets: Vec<_> = decoded
                .detections
                .iter()
                .map(|d| serde_json::json!({"class": classes.name(d.class_id).unwrap_or("?"), "quad": d.quad.pts}))
                .collect();
            let dropped: serde_json::Map<_, _> = decoded.dropped.iter().map(|d| (d.reason.to_string(), d.count.into())).collect();
            let line = serde_json::json!({
                "image_id": id, "path": path.display().to_string(), "width": meta.width, "height": meta.height,
                "response": gen.text.as_str(), "detections": dets, "dropped": dropped,
            });
            writeln!(jsonl, "{line}").with_context(|| format!("writing {}", jsonl_path.display()))?;
            if args.raw {
                let raw = serde_json::json!({"ids": gen.ids.as_slice(), "text": gen.text.as_str()});
                std::fs::write(args.out.join("raw").join(format!("{id}.json")), raw.to_string())?;
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    println!("{} image(s): {} and {}/", files.len(), jsonl_path.display(), args.out.join("vis").display());
    if dropped_total > 0 {
        println!("{dropped_total} response fragment(s) could not be read as boxes (see `dropped` per image)");
    }
    Ok(Outcome::Done)
}
