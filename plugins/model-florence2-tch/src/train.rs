//! Training: AdamW written on tensors (so that its state can be saved and restored with the
//! checkpoint), freezing by parameter groups, LMMRotate's frozen old position rows, gradient
//! clipping, and the state files.

use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;
use std::{collections::BTreeMap, path::Path};
use tch::{nn, Kind, Tensor};

/// Options of `configure_training` (JSON). Defaults are the LMMRotate recipe (upstream.md §5).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Clip the global gradient norm to this value (upstream: none under DeepSpeed).
    #[serde(default)]
    pub max_grad_norm: Option<f64>,
    /// Parts to freeze: `vision`, `projection`, `language`.
    #[serde(default)]
    pub freeze: Vec<String>,
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}

impl TrainOptions {
    pub fn from_json(text: &str) -> Result<Self, PluginError> {
        let o: Self = serde_json::from_str(text)
            .map_err(|e| PluginError::new(ErrorKind::INVALID_CONFIG, format!("florence2 training options: {e}")))?;
        for f in &o.freeze {
            if part_prefixes(f).is_none() {
                return Err(PluginError::new(
                    ErrorKind::INVALID_CONFIG,
                    format!("florence2 training options: cannot freeze `{f}` (parts: vision, projection, language)"),
                ));
            }
        }
        Ok(o)
    }
}

/// Variable-name prefixes of a model part (upstream's freeze flags, which crash there for two of
/// the three parts on Florence-2; here all three work).
pub fn part_prefixes(part: &str) -> Option<&'static [&'static str]> {
    match part {
        "vision" => Some(&["vision_tower."]),
        "projection" => Some(&["image_projection", "image_proj_norm.", "image_pos_embed.", "visual_temporal_embed."]),
        "language" => Some(&["language_model."]),
        _ => None,
    }
}

pub struct AdamW {
    params: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub step: i64,
    pub opts: TrainOptions,
    /// Position-table rows that stay as loaded (gradient zeroed), LMMRotate's extension.
    frozen_position_rows: Option<i64>,
}

impl AdamW {
    pub fn new(vs: &nn::VarStore, opts: TrainOptions, frozen_position_rows: Option<i64>) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in &params {
            let frozen = opts.freeze.iter().any(|f| part_prefixes(f).unwrap_or(&[]).iter().any(|p| name.starts_with(p)));
            // Buffers (temporal table, logits bias) never train.
            let buffer = name == "visual_temporal_embed.pos_idx_to_embed" || name == "language_model.final_logits_bias";
            let _ = t.shallow_clone().set_requires_grad(!frozen && !buffer);
        }
        params.retain(|(_, t)| t.requires_grad());
        let zeros = |p: &Tensor| Tensor::zeros_like(&p.detach()).to_kind(Kind::Float);
        let m = params.iter().map(|(_, p)| zeros(p)).collect();
        let v = params.iter().map(|(_, p)| zeros(p)).collect();
        Self { params, m, v, step: 0, opts, frozen_position_rows }
    }

    /// Number of trained parameters.
    pub fn trainable(&self) -> i64 {
        self.params.iter().map(|(_, p)| p.numel() as i64).sum()
    }

    /// Global L2 norm of the gradients.
    fn grad_norm(&self) -> f64 {
        let sq: Vec<Tensor> = self
            .params
            .iter()
            .filter_map(|(_, p)| {
                let g = p.grad();
                g.defined().then(|| g.to_kind(Kind::Float).pow_tensor_scalar(2).sum(Kind::Float))
            })
            .collect();
        if sq.is_empty() {
            return 0.0;
        }
        Tensor::stack(&sq, 0).sum(Kind::Float).sqrt().double_value(&[])
    }

    /// One update with learning rate `lr`; returns the gradient norm before clipping.
    pub fn step(&mut self, lr: f64) -> Result<f64, PluginError> {
        if let Some(rows) = self.frozen_position_rows {
            for (name, p) in &self.params {
                if name.ends_with("embed_positions.weight") {
                    let g = p.grad();
                    if g.defined() {
                        let _ = g.narrow(0, 0, rows).zero_();
                    }
                }
            }
        }
        let norm = self.grad_norm();
        if !norm.is_finite() {
            return Err(PluginError::new(ErrorKind::BACKEND, format!("non-finite gradient norm ({norm}) at step {}", self.step + 1)));
        }
        let clip = match self.opts.max_grad_norm {
            Some(max) if norm > max => max / (norm + 1e-6),
            _ => 1.0,
        };
        self.step += 1;
        let [b1, b2] = self.opts.betas;
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let g = g.to_kind(Kind::Float) * clip;
                let mut p = p.shallow_clone();
                if self.opts.weight_decay > 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.opts.weight_decay);
                }
                let _ = self.m[i].lerp_(&g, 1.0 - b1);
                let _ = self.v[i].g_mul_scalar_(b2).g_add_(&(&g * &g * (1.0 - b2)));
                let denom = self.v[i].sqrt() / bc2.sqrt() + self.opts.eps;
                let update = (&self.m[i] / denom) * (-lr / bc1);
                let _ = p.g_add_(&update.to_kind(p.kind()));
            }
        });
        Ok(norm)
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// `optimizer.safetensors` (moments) and `optimizer.json` (step, options).
    pub fn save(&self, dir: &Path) -> Result<(), PluginError> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            named.push((format!("m.{name}"), self.m[i].to_device(tch::Device::Cpu)));
            named.push((format!("v.{name}"), self.v[i].to_device(tch::Device::Cpu)));
        }
        let file = dir.join("optimizer.safetensors");
        Tensor::write_safetensors(&named, &file).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))?;
        let meta = serde_json::json!({"step": self.step, "optimizer": "adamw"});
        let file = dir.join("optimizer.json");
        std::fs::write(&file, meta.to_string()).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))
    }

    pub fn load(&mut self, dir: &Path) -> Result<(), PluginError> {
        let file = dir.join("optimizer.safetensors");
        let named: BTreeMap<String, Tensor> = Tensor::read_safetensors(&file)
            .map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))?
            .into_iter()
            .collect();
        for (i, (name, _)) in self.params.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{name}");
                let t = named.get(&key).ok_or_else(|| {
                    PluginError::new(ErrorKind::PARSE, format!("{}: missing optimizer state `{key}`", file.display()))
                })?;
                if t.size() != slot.size() {
                    return Err(PluginError::new(
                        ErrorKind::PARSE,
                        format!("{}: optimizer state `{key}` is {:?}, expected {:?}", file.display(), t.size(), slot.size()),
                    ));
                }
                tch::no_grad(|| slot.copy_(&t.to_device(slot.device())));
            }
        }
        let meta_file = dir.join("optimizer.json");
        let meta: serde_json::Value = std::fs::read_to_string(&meta_file)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| PluginError::new(ErrorKind::PARSE, format!("{}: unreadable", meta_file.display())))?;
        self.step = meta["step"].as_i64().unwrap_or(0);
        Ok(())
    }
}
