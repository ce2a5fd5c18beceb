//! `lmmrotate decode`: runs a response format's decoder on a model response; for checking what a
//! model's text turns into, and for trying out a new format plugin.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use lmmrotate_abi::{ClassTable, ImageMeta};
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Response format plugin (see `lmmrotate plugins`).
    #[arg(long)]
    format: String,
    /// Image size the response refers to, `WIDTHxHEIGHT`.
    #[arg(long, value_name = "WxH")]
    size: String,
    /// Class names, comma separated, in class-id order.
    #[arg(long, value_delimiter = ',', required = true)]
    classes: Vec<String>,
    /// The response text; `-` or absent reads standard input.
    text: Option<String>,
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X']).with_context(|| format!("--size {s:?}: expected WIDTHxHEIGHT"))?;
    let w: u32 = w.trim().parse().with_context(|| format!("--size {s:?}: bad width"))?;
    let h: u32 = h.trim().parse().with_context(|| format!("--size {s:?}: bad height"))?;
    if w == 0 || h == 0 {
        bail!("--size {s:?}: width and height must be positive");
    }
    Ok((w, h))
}

pub fn run(g: &Global, args: &Args) -> Result<Outcome> {
    let (width, height) = parse_size(&args.size)?;
    let text = match args.text.as_deref() {
        Some(t) if t != "-" => t.to_string(),
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the response from standard input")?;
            s
        }
    };
    let plugins = super::open_plugins(g)?;
    let format = plugins.format(&args.format, &serde_json::json!({}))?;
    let classes = ClassTable::from_names(&args.classes);
    let image = ImageMeta { id: "stdin".into(), path: "".into(), width, height };
    let decoded = format.decode(&text, &image, &classes)?;

    let detections: Vec<_> = decoded
        .detections
        .iter()
        .map(|d| {
            serde_json::json!({
                "class": classes.name(d.class_id).unwrap_or("?"),
                "quad": d.quad.pts,
                "score": d.score.into_option(),
            })
        })
        .collect();
    let dropped: serde_json::Map<String, serde_json::Value> =
        decoded.dropped.iter().map(|d| (d.reason.to_string(), d.count.into())).collect();
    let fuzzy: Vec<_> = decoded
        .fuzzy
        .iter()
        .map(|f| serde_json::json!({"label": f.label.as_str(), "class": classes.name(f.class_id), "score": f.score}))
        .collect();
    let out = serde_json::json!({"detections": detections, "dropped": dropped, "fuzzy": fuzzy});
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(if dropped.is_empty() { Outcome::Done } else { Outcome::Partial })
}
