//! Sample pictures of a finished cell: ground truth | prediction of its first responses, decoded
//! with the cell's format, as JPEG files in `cells/<name>/samples/` that the HTML page embeds.

use super::Cell;
use crate::{
    data,
    error::{CoreError, Result},
    eval::{self, EvalFiles},
    images,
    plugins::Plugins,
    vis,
};
use image::{codecs::jpeg::JpegEncoder, imageops::FilterType};
use std::{collections::HashMap, path::Path};

/// Pictures drawn per cell.
const PICTURES_PER_CELL: usize = 3;

/// Longest side of each panel: small scenes are enlarged so that labels stay legible, large ones
/// shrunk so that the page stays a few megabytes.
const PANEL_SIDE: u32 = 384;

/// One picture for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    /// The image id.
    pub caption: String,
    pub jpeg: Vec<u8>,
}

/// The cell's sample pictures, drawn on first use and read back afterwards. Only finished cells
/// get here, so the format and the dataset already worked on these very responses in the
/// cell's own process; loading them in this one is then safe.
pub fn sample_pictures(plugins: &Plugins, cell: &Cell, cell_dir: &Path) -> Result<Vec<Picture>> {
    let dir = cell_dir.join("samples");
    if dir.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| CoreError::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
            .collect();
        if !files.is_empty() {
            files.sort();
            return files
                .iter()
                .map(|p| {
                    let jpeg = std::fs::read(p).map_err(|e| CoreError::io(p, e))?;
                    let stem = p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                    let caption = stem.split_once('_').map_or(stem.as_str(), |(_, id)| id).to_string();
                    Ok(Picture { caption, jpeg })
                })
                .collect();
        }
    }

    let mut responses = eval::read_responses(&EvalFiles::in_dir(cell_dir).responses)?;
    responses.truncate(PICTURES_PER_CELL);
    let format = plugins.format(&cell.format, &serde_json::json!({}))?;
    let ds = plugins.dataset(&cell.dataset, &cell.dataset_config())?;
    let classes = ds.classes()?;
    let names: Vec<String> = classes.names.iter().map(|n| n.to_string()).collect();
    let mut samples: HashMap<String, _> = data::all_samples(&ds)?.into_iter().map(|s| (s.image.id.to_string(), s)).collect();
    let (preds, _) = eval::decode_responses(&format, &responses, &classes)?;
    std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
    let mut out = Vec::new();
    for (i, pred) in preds.iter().enumerate() {
        let Some(sample) = samples.remove(&pred.id) else {
            return Err(CoreError::Invalid(format!("{}: image `{}` is not in dataset `{}`", cell_dir.display(), pred.id, cell.dataset)));
        };
        let img = images::open_rgb(Path::new(sample.image.path.as_str()))?;
        let scale = PANEL_SIDE as f32 / img.width().max(img.height()).max(1) as f32;
        let (w, h) = (((img.width() as f32 * scale).round() as u32).max(1), ((img.height() as f32 * scale).round() as u32).max(1));
        let img = image::imageops::resize(&img, w, h, FilterType::Triangle);
        let scaled = |q: &[f32; 8]| q.map(|v| v * scale);
        let gt: Vec<vis::Object> =
            sample.objects.iter().map(|o| vis::Object { class: o.class_id as usize, quad: scaled(&o.quad.pts), score: None }).collect();
        let pr: Vec<vis::Object> =
            pred.detections.iter().map(|d| vis::Object { class: d.class, quad: scaled(&d.quad), score: d.score }).collect();
        let picture = vis::side_by_side(&img, &names, &gt, &pr);
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(&picture)
            .map_err(|e| CoreError::Invalid(format!("{}: encoding a sample picture: {e}", cell_dir.display())))?;
        // The index keeps the response order when the files are read back sorted.
        let stem: String = pred.id.chars().map(|c| if c.is_ascii_alphanumeric() || "-_".contains(c) { c } else { '_' }).collect();
        let path = dir.join(format!("{i}_{stem}.jpg"));
        std::fs::write(&path, &jpeg).map_err(|e| CoreError::io(&path, e))?;
        out.push(Picture { caption: pred.id.clone(), jpeg });
    }
    Ok(out)
}
