//! Reading and writing Florence-2 weights: Hugging Face folders with `model.safetensors` or
//! `pytorch_model.bin`, in the original microsoft key layout or the transformers-native one
//! (florence2.md §3.4), and LMMRotate fine-tunes with longer position tables. Every missing,
//! unexpected or mis-shaped key is an error naming the key and both shapes.

use lmmrotate_abi::{ErrorKind, PluginError};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};
use tch::{nn, Tensor};

/// Keys that may be absent: they are computed (temporal table) or zero (logits bias).
const OPTIONAL: [&str; 2] = ["visual_temporal_embed.pos_idx_to_embed", "language_model.final_logits_bias"];

fn perr(kind: ErrorKind, msg: String) -> PluginError {
    PluginError::new(kind, msg)
}

/// The weights file of a checkpoint folder (or the file itself).
pub fn weights_file(path: &Path) -> Result<PathBuf, PluginError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    for name in ["model.safetensors", "pytorch_model.bin"] {
        let p = path.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(perr(
        ErrorKind::IO,
        format!("{}: no model.safetensors or pytorch_model.bin (sharded checkpoints are not supported yet)", path.display()),
    ))
}

/// Maps a transformers-native key to the original one; `None` for keys that carry nothing new.
pub fn native_to_original(k: &str) -> Option<String> {
    if let Some(rest) = k.strip_prefix("model.language_model.") {
        if rest.starts_with("encoder.embed_tokens.") || rest.starts_with("decoder.embed_tokens.") {
            return None;
        }
        return Some(format!("language_model.model.{rest}"));
    }
    if k == "lm_head.weight" {
        return Some("language_model.lm_head.weight".into());
    }
    if let Some(rest) = k.strip_prefix("model.multi_modal_projector.") {
        if rest == "image_projection.weight" {
            return Some("image_projection".into());
        }
        return Some(rest.replacen("image_position_embed.", "image_pos_embed.", 1));
    }
    let rest = k.strip_prefix("model.")?;
    let parts: Vec<&str> = rest.split('.').collect();
    if parts.len() >= 2 && parts[0] == "vision_tower" && parts[1] == "convs" {
        return Some(rest.replacen(".conv.", ".proj.", 1));
    }
    if parts.len() < 7 || parts[1] != "blocks" {
        return Some(rest.to_string());
    }
    let head = parts[..5].join(".");
    let attn = if parts[4] == "spatial_block" { "window_attn" } else { "channel_attn" };
    let tail = parts[6..].join(".");
    Some(match parts[5] {
        n @ ("conv1" | "conv2") => format!("{head}.{n}.fn.dw.{tail}"),
        "norm1" => format!("{head}.{attn}.norm.{tail}"),
        "window_attn" | "channel_attn" => format!("{head}.{attn}.fn.{tail}"),
        "norm2" => format!("{head}.ffn.norm.{tail}"),
        "ffn" => format!("{head}.ffn.fn.net.{tail}"),
        _ => rest.to_string(),
    })
}

/// Maps an original key to the transformers-native one (the inverse of [`native_to_original`]);
/// `None` for keys the native model does not have (`final_logits_bias`, assumed zero there).
pub fn original_to_native(k: &str) -> Option<String> {
    if k == "language_model.final_logits_bias" {
        return None;
    }
    if let Some(rest) = k.strip_prefix("language_model.model.") {
        return Some(format!("model.language_model.{rest}"));
    }
    if k == "language_model.lm_head.weight" {
        return Some("lm_head.weight".into());
    }
    if k == "image_projection" {
        return Some("model.multi_modal_projector.image_projection.weight".into());
    }
    for p in ["image_proj_norm.", "visual_temporal_embed."] {
        if k.starts_with(p) {
            return Some(format!("model.multi_modal_projector.{k}"));
        }
    }
    if let Some(rest) = k.strip_prefix("image_pos_embed.") {
        return Some(format!("model.multi_modal_projector.image_position_embed.{rest}"));
    }
    let parts: Vec<&str> = k.split('.').collect();
    if parts.len() >= 2 && parts[0] == "vision_tower" && parts[1] == "convs" {
        return Some(format!("model.{}", k.replacen(".proj.", ".conv.", 1)));
    }
    if parts.len() < 7 || parts[1] != "blocks" {
        return Some(format!("model.{k}"));
    }
    let head = parts[..5].join(".");
    let tail = parts[parts.len() - 1];
    let native = match (parts[5], parts[6]) {
        (n @ ("conv1" | "conv2"), _) => format!("{head}.{n}.{tail}"),
        ("window_attn" | "channel_attn", "norm") => format!("{head}.norm1.{tail}"),
        (a @ ("window_attn" | "channel_attn"), "fn") => format!("{head}.{a}.{}.{tail}", parts[7]),
        ("ffn", "norm") => format!("{head}.norm2.{tail}"),
        ("ffn", "fn") => format!("{head}.ffn.{}.{tail}", parts[8]),
        _ => k.to_string(),
    };
    Some(format!("model.{native}"))
}

/// Reads a weights file into original-layout names (CPU tensors, as stored).
pub fn read(path: &Path) -> Result<BTreeMap<String, Tensor>, PluginError> {
    let file = weights_file(path)?;
    let named = match file.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Tensor::read_safetensors(&file),
        _ => Tensor::loadz_multi(&file),
    }
    .map_err(|e| perr(ErrorKind::IO, format!("{}: cannot read weights: {e}", file.display())))?;
    let native = named.iter().any(|(k, _)| k.starts_with("model.vision_tower.") || k.starts_with("model.language_model."));
    let mut out = BTreeMap::new();
    for (k, t) in named {
        let key = if native { native_to_original(&k) } else { Some(k.clone()) };
        let Some(key) = key else { continue };
        // Aliases of `shared` in the original layout, and the deleted DaViT head.
        if key.ends_with("encoder.embed_tokens.weight")
            || key.ends_with("decoder.embed_tokens.weight")
            || key.starts_with("vision_tower.head.")
            || key.starts_with("vision_tower.norms.")
        {
            continue;
        }
        // The native projection is a Linear [d, C3]; the original a raw [C3, d] matrix.
        let t = if native && key == "image_projection" { t.tr().contiguous() } else { t };
        out.insert(key, t);
    }
    Ok(out)
}

/// Whether the checkpoint's LM head is tied to `shared` (absent or equal).
pub fn head_is_tied(weights: &BTreeMap<String, Tensor>) -> bool {
    match (weights.get("language_model.lm_head.weight"), weights.get("language_model.model.shared.weight")) {
        (Some(h), Some(s)) => h.size() == s.size() && h.to_kind(tch::Kind::Float).equal(&s.to_kind(tch::Kind::Float)),
        _ => true,
    }
}

/// What loading did beyond a plain copy.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    /// Rows of each position table that came from the checkpoint when the model's tables are
    /// longer (LMMRotate's extension); those rows stay frozen in training.
    pub position_rows_loaded: Option<i64>,
}

/// Copies `weights` into the variables of `vs`; everything must match.
pub fn copy_into(vs: &nn::VarStore, weights: &BTreeMap<String, Tensor>, source: &Path) -> Result<LoadReport, PluginError> {
    let vars = vs.variables();
    let mut report = LoadReport::default();
    let mut problems = Vec::new();
    for k in weights.keys() {
        if !vars.contains_key(k) && k != "language_model.lm_head.weight" {
            problems.push(format!("unexpected key `{k}` {:?}", weights[k].size()));
        }
    }
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| {
        for name in names {
            let var = &vars[name];
            let Some(src) = weights.get(name.as_str()) else {
                if !OPTIONAL.contains(&name.as_str()) {
                    problems.push(format!("missing key `{name}` (expected shape {:?})", var.size()));
                }
                continue;
            };
            let (want, got) = (var.size(), src.size());
            let is_positions = name.ends_with("embed_positions.weight");
            if want == got {
                let mut v = var.shallow_clone();
                v.copy_(&src.to_kind(var.kind()).to_device(var.device()));
            } else if is_positions && want.len() == 2 && got.len() == 2 && want[1] == got[1] && got[0] < want[0] {
                let mut head = var.narrow(0, 0, got[0]);
                head.copy_(&src.to_kind(var.kind()).to_device(var.device()));
                report.position_rows_loaded = Some(got[0]);
            } else {
                problems.push(format!("shape mismatch for `{name}`: checkpoint {got:?}, model expects {want:?}"));
            }
        }
    });
    if problems.is_empty() {
        Ok(report)
    } else {
        let shown: Vec<String> = problems.iter().take(20).cloned().collect();
        let more = if problems.len() > 20 { format!("\n... and {} more", problems.len() - 20) } else { String::new() };
        Err(perr(
            ErrorKind::PARSE,
            format!("{}: {} problem(s) loading Florence-2 weights:\n{}{more}", source.display(), problems.len(), shown.join("\n")),
        ))
    }
}

/// Key layout of saved weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// microsoft's keys, as the original remote code and LMMRotate load them.
    #[default]
    Original,
    /// transformers' native `Florence2ForConditionalGeneration` (transformers ≥ 4.56).
    Native,
}

/// Writes the variables of `vs` as `model.safetensors` in `layout`.
pub fn save(vs: &nn::VarStore, dir: &Path, layout: Layout) -> Result<(), PluginError> {
    let vars = vs.variables();
    let mut named: Vec<(String, Tensor)> = vars
        .into_iter()
        .filter_map(|(k, v)| {
            let v = v.detach().to_device(tch::Device::Cpu).contiguous();
            match layout {
                Layout::Original => Some((k, v)),
                Layout::Native => {
                    let nk = original_to_native(&k)?;
                    Some((nk, if k == "image_projection" { v.tr().contiguous() } else { v }))
                }
            }
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let file = dir.join("model.safetensors");
    Tensor::write_safetensors(&named, &file)
        .map_err(|e| perr(ErrorKind::IO, format!("{}: cannot write weights: {e}", file.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_names_map_to_original_ones() {
        let cases = [
            ("model.vision_tower.convs.1.conv.weight", Some("vision_tower.convs.1.proj.weight")),
            ("model.vision_tower.convs.1.norm.bias", Some("vision_tower.convs.1.norm.bias")),
            (
                "model.vision_tower.blocks.2.3.spatial_block.conv1.weight",
                Some("vision_tower.blocks.2.3.spatial_block.conv1.fn.dw.weight"),
            ),
            (
                "model.vision_tower.blocks.0.0.channel_block.norm1.weight",
                Some("vision_tower.blocks.0.0.channel_block.channel_attn.norm.weight"),
            ),
            (
                "model.vision_tower.blocks.0.0.spatial_block.window_attn.qkv.bias",
                Some("vision_tower.blocks.0.0.spatial_block.window_attn.fn.qkv.bias"),
            ),
            ("model.vision_tower.blocks.0.0.channel_block.norm2.bias", Some("vision_tower.blocks.0.0.channel_block.ffn.norm.bias")),
            (
                "model.vision_tower.blocks.0.0.channel_block.ffn.fc2.weight",
                Some("vision_tower.blocks.0.0.channel_block.ffn.fn.net.fc2.weight"),
            ),
            ("model.multi_modal_projector.image_projection.weight", Some("image_projection")),
            (
                "model.multi_modal_projector.image_position_embed.row_embeddings.weight",
                Some("image_pos_embed.row_embeddings.weight"),
            ),
            ("model.language_model.shared.weight", Some("language_model.model.shared.weight")),
            ("model.language_model.encoder.embed_tokens.weight", None),
            ("lm_head.weight", Some("language_model.lm_head.weight")),
        ];
        for (native, original) in cases {
            assert_eq!(native_to_original(native).as_deref(), original, "{native}");
            // And back, for every key the native model has.
            if let Some(o) = original {
                if native != "model.language_model.encoder.embed_tokens.weight" {
                    assert_eq!(original_to_native(o).as_deref(), Some(native), "{o}");
                }
            }
        }
    }
}
