//! Weights on disk: reading a Hugging Face folder (`model.safetensors`, or shards listed in
//! `model.safetensors.index.json`) in either key layout, copying into the model's variables with
//! errors naming key and shapes, seeded random initialisation, and saving.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use lmmrotate_abi::{ErrorKind, PluginError};
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
};

fn ioerr(path: &Path, e: impl std::fmt::Display) -> PluginError {
    PluginError::new(ErrorKind::IO, format!("{}: {e}", path.display()))
}

/// The hub (transformers 4.x) name of a checkpoint key, which is what the model's variables are
/// called; `None` for the output projection, tied to the embeddings in PaliGemma.
///
/// transformers 5 keeps `language_model.model.*` and `multi_modal_projector.*` but writes the
/// vision tower without `vision_model.`; in memory it uses `model.*` prefixes.
pub fn canonical(key: &str) -> Option<String> {
    let k = key.strip_prefix("model.").unwrap_or(key);
    if k == "lm_head.weight" || k == "language_model.lm_head.weight" {
        return None;
    }
    if let Some(rest) = k.strip_prefix("language_model.") {
        return Some(if rest.starts_with("model.") { format!("language_model.{rest}") } else { format!("language_model.model.{rest}") });
    }
    if let Some(rest) = k.strip_prefix("vision_tower.") {
        return Some(if rest.starts_with("vision_model.") { format!("vision_tower.{rest}") } else { format!("vision_tower.vision_model.{rest}") });
    }
    Some(k.to_string())
}

/// The weight files of a folder: the index's shards, or `model.safetensors`.
fn files(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|e| ioerr(&index, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| PluginError::new(ErrorKind::PARSE, format!("{}: line {}: {e}", index.display(), e.line())))?;
        let map = v.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| {
            PluginError::new(ErrorKind::PARSE, format!("{}: no `weight_map` object", index.display()))
        })?;
        let mut names: Vec<&str> = map.values().filter_map(|f| f.as_str()).collect();
        names.sort();
        names.dedup();
        return Ok(names.into_iter().map(|n| dir.join(n)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    Err(PluginError::new(
        ErrorKind::IO,
        format!("{}: no model.safetensors nor model.safetensors.index.json", dir.display()),
    ))
}

/// All tensors of a checkpoint folder on the CPU, by canonical name.
pub fn read(dir: &Path) -> Result<BTreeMap<String, Tensor>, PluginError> {
    let mut out = BTreeMap::new();
    for f in files(dir)? {
        if !f.is_file() {
            return Err(ioerr(&f, "listed in model.safetensors.index.json but missing"));
        }
        let tensors = candle_core::safetensors::load(&f, &Device::Cpu).map_err(|e| {
            PluginError::new(ErrorKind::PARSE, format!("{}: cannot read weights: {e}", f.display()))
        })?;
        for (k, t) in tensors {
            if let Some(name) = canonical(&k) {
                out.insert(name, t);
            }
        }
    }
    Ok(out)
}

/// Copies `weights` into the variables of `vars`; every missing, unexpected or mis-shaped key is
/// listed in one error naming `dir`.
pub fn copy_into(vars: &VarMap, weights: &BTreeMap<String, Tensor>, dir: &Path) -> Result<(), PluginError> {
    let data = vars.data().lock().expect("var map lock");
    let mut problems = Vec::new();
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        match weights.get(name) {
            None => problems.push(format!("missing key `{name}` (expected shape {:?})", var.dims())),
            Some(t) if t.dims() != var.dims() => problems.push(format!(
                "shape mismatch for `{name}`: checkpoint {:?}, model expects {:?}",
                t.dims(),
                var.dims()
            )),
            Some(t) => {
                let t = t.to_dtype(var.dtype()).and_then(|t| t.to_device(var.device())).and_then(|t| var.set(&t));
                if let Err(e) = t {
                    problems.push(format!("`{name}`: {e}"));
                }
            }
        }
    }
    for (k, t) in weights {
        if !data.contains_key(k) {
            problems.push(format!("unexpected key `{k}` {:?}", t.dims()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PluginError::new(
            ErrorKind::PARSE,
            format!("{}: {} problem(s): {}", dir.display(), problems.len(), problems.join("; ")),
        ))
    }
}

/// splitmix64: a small seeded generator (candle's CPU generator cannot be seeded).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Seeded initialisation as transformers' `_init_weights`: matrices and tables from N(0, 0.02²)
/// (`initializer_range`), biases zero (candle-nn's `linear` draws them from its unseeded
/// generator), other vectors keep their constants (norms).
pub fn init_random(vars: &VarMap, seed: u64) -> Result<(), PluginError> {
    let data = vars.data().lock().expect("var map lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = Rng::new(seed);
    for name in names {
        let var = &data[name];
        let n = var.elem_count();
        let values: Vec<f32> = if var.rank() >= 2 {
            (0..n).map(|_| (0.02 * rng.normal()) as f32).collect()
        } else if name.ends_with(".bias") {
            vec![0.0; n]
        } else {
            continue;
        };
        Tensor::from_vec(values, var.shape(), var.device())
            .and_then(|t| t.to_dtype(var.dtype()))
            .and_then(|t| var.set(&t))
            .map_err(|e| PluginError::new(ErrorKind::BACKEND, format!("initialising `{name}`: {e}")))?;
    }
    Ok(())
}

/// Writes every variable to `dir/model.safetensors` under its hub name, in `dtype`.
pub fn save(vars: &VarMap, dir: &Path, dtype: DType) -> Result<(), PluginError> {
    let data = vars.data().lock().expect("var map lock");
    let mut out: HashMap<String, Tensor> = HashMap::with_capacity(data.len());
    for (k, v) in data.iter() {
        let t = v.as_tensor().to_dtype(dtype).and_then(|t| t.to_device(&Device::Cpu)).map_err(|e| {
            PluginError::new(ErrorKind::BACKEND, format!("saving `{k}`: {e}"))
        })?;
        out.insert(k.clone(), t);
    }
    let file = dir.join("model.safetensors");
    candle_core::safetensors::save(&out, &file).map_err(|e| ioerr(&file, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_map_to_hub_names() {
        for (k, want) in [
            ("language_model.model.layers.0.mlp.up_proj.weight", Some("language_model.model.layers.0.mlp.up_proj.weight")),
            ("model.language_model.layers.0.mlp.up_proj.weight", Some("language_model.model.layers.0.mlp.up_proj.weight")),
            ("vision_tower.embeddings.patch_embedding.bias", Some("vision_tower.vision_model.embeddings.patch_embedding.bias")),
            ("model.vision_tower.vision_model.post_layernorm.bias", Some("vision_tower.vision_model.post_layernorm.bias")),
            ("model.multi_modal_projector.linear.bias", Some("multi_modal_projector.linear.bias")),
            ("lm_head.weight", None),
            ("language_model.lm_head.weight", None),
        ] {
            assert_eq!(canonical(k).as_deref(), want, "{k}");
        }
    }
}
