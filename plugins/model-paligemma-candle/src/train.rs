//! Full fine-tuning: AdamW (torch's arithmetic) over the model's variables, with fp32 moments and
//! fp32 master weights when the variables are bf16/fp16, gradient accumulation across
//! micro-batches, optional global-norm clipping and freezing of model parts; its state is saved
//! to and restored from `optimizer.safetensors` + `optimizer.json`.

use candle_core::{backprop::GradStore, DType, Device, Tensor, Var};
use candle_nn::VarMap;
use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;
use std::{collections::HashMap, path::Path};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Clip the global gradient norm to this value.
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

fn backend(e: candle_core::Error) -> PluginError {
    PluginError::new(ErrorKind::BACKEND, e.to_string())
}

impl TrainOptions {
    pub fn from_json(text: &str) -> Result<Self, PluginError> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let o: Self = serde_json::from_str(text)
            .map_err(|e| PluginError::new(ErrorKind::INVALID_CONFIG, format!("paligemma training options: {e}")))?;
        for f in &o.freeze {
            if part_prefix(f).is_none() {
                return Err(PluginError::new(
                    ErrorKind::INVALID_CONFIG,
                    format!("paligemma training options: cannot freeze `{f}` (parts: vision, projection, language)"),
                ));
            }
        }
        Ok(o)
    }
}

/// Variable-name prefix of a model part.
pub fn part_prefix(part: &str) -> Option<&'static str> {
    match part {
        "vision" => Some("vision_tower."),
        "projection" => Some("multi_modal_projector."),
        "language" => Some("language_model."),
        _ => None,
    }
}

struct Param {
    name: String,
    var: Var,
    /// fp32 master weights (the variable itself for fp32).
    master: Tensor,
    m: Tensor,
    v: Tensor,
    /// Gradient summed over the micro-batches since the last update (fp32).
    grad: Option<Tensor>,
}

pub struct AdamW {
    params: Vec<Param>,
    pub step: u64,
    pub opts: TrainOptions,
}

impl AdamW {
    pub fn new(vars: &VarMap, opts: TrainOptions) -> Result<Self, PluginError> {
        let data = vars.data().lock().expect("var map lock");
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        let mut params = Vec::new();
        for name in names {
            if opts.freeze.iter().any(|f| part_prefix(f).is_some_and(|p| name.starts_with(p))) {
                continue;
            }
            let var = data[name].clone();
            let master = var.as_tensor().to_dtype(DType::F32).and_then(|t| t.copy()).map_err(backend)?;
            let m = master.zeros_like().map_err(backend)?;
            let v = master.zeros_like().map_err(backend)?;
            params.push(Param { name: name.clone(), var, master, m, v, grad: None });
        }
        Ok(Self { params, step: 0, opts })
    }

    /// Number of trained parameters.
    pub fn trainable(&self) -> usize {
        self.params.iter().map(|p| p.var.elem_count()).sum()
    }

    /// Adds this micro-batch's gradients to the accumulated ones.
    pub fn accumulate(&mut self, grads: &GradStore) -> Result<(), PluginError> {
        for p in &mut self.params {
            if let Some(g) = grads.get(p.var.as_tensor()) {
                let g = g.to_dtype(DType::F32).map_err(backend)?;
                p.grad = Some(match p.grad.take() {
                    Some(acc) => (acc + g).map_err(backend)?,
                    None => g,
                });
            }
        }
        Ok(())
    }

    /// One update with learning rate `lr` from the accumulated gradients (then cleared); returns
    /// the global gradient norm before clipping.
    pub fn apply(&mut self, lr: f64) -> Result<f64, PluginError> {
        let mut sq = 0.0;
        for p in &self.params {
            if let Some(g) = &p.grad {
                sq += g.sqr().and_then(|s| s.sum_all()).and_then(|s| s.to_scalar::<f32>()).map_err(backend)? as f64;
            }
        }
        let norm = sq.sqrt();
        if !norm.is_finite() {
            for p in &mut self.params {
                p.grad = None;
            }
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
        for p in &mut self.params {
            let Some(g) = p.grad.take() else { continue };
            let upd = || -> candle_core::Result<()> {
                let g = (g * clip)?;
                let mut w = p.master.clone();
                if self.opts.weight_decay > 0.0 {
                    w = (w * (1.0 - lr * self.opts.weight_decay))?;
                }
                p.m = ((&p.m * b1)? + (&g * (1.0 - b1))?)?;
                p.v = ((&p.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                let denom = ((p.v.sqrt()? / bc2.sqrt())? + self.opts.eps)?;
                let w = (w - (p.m.div(&denom)? * (lr / bc1))?)?;
                p.var.set(&w.to_dtype(p.var.dtype())?)?;
                p.master = if p.var.dtype() == DType::F32 { p.var.as_tensor().copy()? } else { w };
                Ok(())
            };
            upd().map_err(|e| PluginError::new(ErrorKind::BACKEND, format!("updating `{}`: {e}", p.name)))?;
        }
        Ok(norm)
    }

    /// `optimizer.safetensors` (moments and master weights by variable) and `optimizer.json`.
    pub fn save(&self, dir: &Path) -> Result<(), PluginError> {
        let mut named: HashMap<String, Tensor> = HashMap::new();
        for p in &self.params {
            for (prefix, t) in [("m", &p.m), ("v", &p.v), ("master", &p.master)] {
                named.insert(format!("{prefix}.{}", p.name), t.to_device(&Device::Cpu).map_err(backend)?);
            }
        }
        let file = dir.join("optimizer.safetensors");
        candle_core::safetensors::save(&named, &file).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))?;
        let meta = serde_json::json!({"step": self.step, "optimizer": "adamw"});
        let file = dir.join("optimizer.json");
        std::fs::write(&file, meta.to_string()).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))
    }

    /// Restores what `save` wrote; the weights themselves come from the checkpoint.
    pub fn load(&mut self, dir: &Path) -> Result<(), PluginError> {
        let file = dir.join("optimizer.safetensors");
        let named = candle_core::safetensors::load(&file, &Device::Cpu)
            .map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))?;
        for p in &mut self.params {
            let dev = p.master.device().clone();
            let get = |prefix: &str, like: &Tensor| -> Result<Tensor, PluginError> {
                let key = format!("{prefix}.{}", p.name);
                let t = named.get(&key).ok_or_else(|| {
                    PluginError::new(ErrorKind::PARSE, format!("{}: missing optimizer state `{key}`", file.display()))
                })?;
                if t.dims() != like.dims() {
                    return Err(PluginError::new(
                        ErrorKind::PARSE,
                        format!("{}: optimizer state `{key}` has shape {:?}, expected {:?}", file.display(), t.dims(), like.dims()),
                    ));
                }
                t.to_dtype(DType::F32).and_then(|t| t.to_device(&dev)).map_err(backend)
            };
            p.m = get("m", &p.m)?;
            p.v = get("v", &p.v)?;
            p.master = get("master", &p.master)?;
            p.grad = None;
        }
        let meta_file = dir.join("optimizer.json");
        let meta: serde_json::Value = std::fs::read_to_string(&meta_file)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| PluginError::new(ErrorKind::PARSE, format!("{}: unreadable", meta_file.display())))?;
        self.step = meta["step"].as_u64().unwrap_or(0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::{Init, VarBuilder};

    #[test]
    fn first_adamw_step_moves_each_weight_by_lr_against_its_gradient() {
        // Step 1 with bias correction: m̂ = g, v̂ = g², so the update is lr · g / (|g| + eps).
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let w = vb.get_with_hints(3, "w", Init::Const(1.0)).unwrap();
        let mut opt = AdamW::new(&vars, TrainOptions::from_json("{}").unwrap()).unwrap();
        let loss = w.mul(&Tensor::new(&[0.5f32, -2.0, 0.0], &Device::Cpu).unwrap()).unwrap().sum_all().unwrap();
        // Two micro-batches of half weight accumulate to the same gradient.
        for _ in 0..2 {
            opt.accumulate(&(&loss * 0.5).unwrap().backward().unwrap()).unwrap();
        }
        let norm = opt.apply(0.1).unwrap();
        assert!((norm - (0.25f64 + 4.0).sqrt()).abs() < 1e-6, "{norm}");
        let got: Vec<f32> = w.to_vec1().unwrap();
        for (a, b) in got.iter().zip([0.9f32, 1.1, 1.0]) {
            assert!((a - b).abs() < 1e-6, "{got:?}");
        }
    }
}
