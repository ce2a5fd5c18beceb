//! `lmmrotate data ...`: preparing data sets — synthetic scenes, DOTA patch splitting, statistics,
//! SFT JSON conversion.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use lmmrotate_datastats::{compute, StatsOptions};
use lmmrotate_datatools::{split::PaddingValue, split_dota, SplitConfig};
use lmmrotate_synth::{write_dota_folder, SynthOptions};
use std::path::PathBuf;

mod convert;

#[derive(clap::Subcommand, Debug)]
pub enum DataCommand {
    /// Generate synthetic aerial scenes as a DOTA-style folder (images/, annfiles/, classes.txt).
    Synth(SynthArgs),
    /// Cut large images into patches as mmrotate's img_split does (DOTA `split_ss`).
    Split(SplitArgs),
    /// Objects per class and per image, box sizes and angles, tokens per response: table + PNG.
    Stats(StatsArgs),
    /// Encode annotations (COCO JSON, annfiles or a dataset) as upstream's SFT JSON for training.
    Convert(convert::ConvertArgs),
}

#[derive(clap::Args, Debug)]
pub struct SplitArgs {
    /// mmrotate's split config JSON (e.g. ss_trainval.json); the options below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Image folder(s).
    #[arg(long = "img-dir", num_args = 1..)]
    img_dir: Vec<PathBuf>,
    /// DOTA annotation folder(s), one per image folder; none splits images only.
    #[arg(long = "ann-dir", num_args = 1..)]
    ann_dir: Vec<PathBuf>,
    /// Output folder: images/ and annfiles/.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    sizes: Option<Vec<u32>>,
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    gaps: Option<Vec<u32>>,
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    #[arg(long = "img-rate-thr")]
    img_rate_thr: Option<f64>,
    #[arg(long = "iof-thr")]
    iof_thr: Option<f64>,
    /// B,G,R (as mmrotate) or one value for all channels.
    #[arg(long = "padding-value", value_delimiter = ',')]
    padding_value: Option<Vec<u8>>,
    #[arg(long = "no-padding")]
    no_padding: bool,
    #[arg(long = "save-ext")]
    save_ext: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Dataset plugin.
    #[arg(long)]
    dataset: String,
    #[arg(long = "dataset-root")]
    dataset_root: Option<PathBuf>,
    #[arg(long)]
    split: Option<String>,
    /// Output folder: stats.md, stats.json, stats.png.
    #[arg(long, default_value = "stats")]
    out: PathBuf,
    /// Also count tokens per response: the format encoding the targets ...
    #[arg(long, requires = "model")]
    format: Option<String>,
    /// ... and the model whose tokenizer counts them.
    #[arg(long, requires = "format")]
    model: Option<String>,
    /// Histogram bins.
    #[arg(long, default_value_t = 24)]
    bins: usize,
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
        DataCommand::Split(a) => split(g, a),
        DataCommand::Stats(a) => stats(g, a),
        DataCommand::Convert(a) => convert::run(g, a),
    }
}

fn split(g: &Global, a: &SplitArgs) -> Result<Outcome> {
    let mut cfg = match &a.config {
        Some(p) => SplitConfig::from_json_file(p)?,
        None => SplitConfig::default(),
    };
    if !a.img_dir.is_empty() {
        cfg.img_dirs = a.img_dir.clone();
    }
    if !a.ann_dir.is_empty() {
        cfg.ann_dirs = Some(a.ann_dir.clone());
    }
    if let Some(o) = &a.out {
        cfg.save_dir = o.clone();
    }
    if let Some(v) = &a.sizes {
        cfg.sizes = v.clone();
    }
    if let Some(v) = &a.gaps {
        cfg.gaps = v.clone();
    }
    if let Some(v) = &a.rates {
        cfg.rates = v.clone();
    }
    if let Some(v) = a.img_rate_thr {
        cfg.img_rate_thr = v;
    }
    if let Some(v) = a.iof_thr {
        cfg.iof_thr = v;
    }
    if let Some(v) = &a.padding_value {
        cfg.padding_value = match v.as_slice() {
            [one] => PaddingValue::All(*one),
            [b, g, r] => PaddingValue::Bgr([*b, *g, *r]),
            _ => bail!("--padding-value takes one value or B,G,R"),
        };
    }
    if a.no_padding {
        cfg.no_padding = true;
    }
    if let Some(e) = &a.save_ext {
        cfg.save_ext = e.clone();
    }
    if cfg.img_dirs.is_empty() {
        bail!("give --img-dir (or a --config with img_dirs)");
    }
    let host = lmmrotate_core::TerminalHost::new("split", !g.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let bar = host.bar("split", 0);
    let summary = split_dota(&cfg, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    for m in &summary.missing_annfiles {
        eprintln!("warning: no annfile {} (image split without objects)", m.display());
    }
    println!("{} images -> {} patches, {} objects in {}", summary.images, summary.patches, summary.objects, cfg.save_dir.display());
    Ok(if summary.missing_annfiles.is_empty() { Outcome::Done } else { Outcome::Partial })
}

fn stats(g: &Global, a: &StatsArgs) -> Result<Outcome> {
    let plugins = super::open_plugins(g)?;
    let mut cfg = serde_json::json!({});
    if let Some(r) = &a.dataset_root {
        cfg["root"] = r.display().to_string().into();
    }
    if let Some(s) = &a.split {
        cfg["split"] = s.clone().into();
    }
    let ds = plugins.dataset(&a.dataset, &cfg)?;
    let classes = ds.classes()?;
    let samples = lmmrotate_core::data::all_samples(&ds)?;
    let opts = StatsOptions { bins: a.bins };
    let mut st = compute(&samples, &classes, &opts);
    if let (Some(f), Some(m)) = (&a.format, &a.model) {
        let format = plugins.format(f, &serde_json::json!({}))?;
        let model = plugins.model(m, &serde_json::json!({}))?;
        let mut counts = Vec::new();
        for s in &samples {
            if let Some(text) = format.encode(s.objects.as_slice(), &s.image, &classes)? {
                counts.push(model.count_tokens(&text)?);
            }
        }
        let max_len = model.info()?.max_text_len;
        let over = counts.iter().filter(|&&c| c > max_len).count();
        println!("{over} of {} responses exceed the model's {max_len} tokens (they are truncated in training)", counts.len());
        st = st.with_tokens(&counts, &opts);
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("stats.md"), st.to_markdown())?;
    std::fs::write(a.out.join("stats.json"), serde_json::to_string_pretty(&st)?)?;
    st.save_png(&a.out.join("stats.png"))?;
    println!("{}", st.to_text());
    println!("written: {}/stats.{{md,json,png}}", a.out.display());
    Ok(Outcome::Done)
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
