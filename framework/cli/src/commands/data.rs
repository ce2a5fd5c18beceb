//! `lmmrotate data ...`: preparing data sets (synthetic scenes for now).

use crate::{exit::Outcome, Global};
use anyhow::{Context, Result};
use lmmrotate_synth::{write_dota_folder, SynthOptions};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum DataCommand {
    /// Generate synthetic aerial scenes as a DOTA-style folder (images/, annfiles/, classes.txt).
    Synth(SynthArgs),
}

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 100)]
    images: usize,
    /// Seed: the same seed gives the same images.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Square image size in pixels.
    #[arg(long, default_value_t = 512)]
    size: u32,
    /// Scene options as a JSON object (min_objects, max_objects, crowding, max_occlusion,
    /// object_scale, water, max_roads), merged over the defaults.
    #[arg(long, value_name = "JSON")]
    scene: Option<String>,
    /// File stem prefix of the images.
    #[arg(long, default_value = "synth_")]
    prefix: String,
}

pub fn run(g: &Global, cmd: &DataCommand) -> Result<Outcome> {
    match cmd {
        DataCommand::Synth(a) => synth(g, a),
    }
}

fn synth(g: &Global, a: &SynthArgs) -> Result<Outcome> {
    let mut scene = serde_json::json!({"width": a.size, "height": a.size});
    if let Some(j) = &a.scene {
        let extra: serde_json::Value = serde_json::from_str(j).context("--scene is not JSON")?;
        for (k, v) in extra.as_object().context("--scene must be a JSON object")? {
            scene[k] = v.clone();
        }
    }
    let opts = SynthOptions {
        images: a.images,
        seed: a.seed,
        prefix: a.prefix.clone(),
        scene: serde_json::from_value(scene).context("--scene")?,
    };
    let host = lmmrotate_core::TerminalHost::new("synth", !g.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let bar = host.bar("synth", a.images as u64);
    let summary = write_dota_folder(&a.out, &opts, &|done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    println!("{} images, {} objects in {}", summary.images, summary.objects, a.out.display());
    Ok(Outcome::Done)
}
