//! LoRA (Hu et al. 2021, PEFT's arithmetic): `y = x Wᵀ + (alpha / r) · x Aᵀ Bᵀ` on chosen linear
//! layers of the Gemma decoder, with the base weights frozen (held as constants, so that no
//! gradient is computed for them) and only A [r, in] and B [out, r] trained. A starts from
//! PEFT's Kaiming-uniform (bound 1/√in), B from zero, so training starts from the base model.
//!
//! Adapters are saved beside the unchanged base weights, in PEFT's layout
//! (`adapter_model.safetensors` + `adapter_config.json`); they are never merged at save, so that
//! the base stays bit-identical and a resumed run continues exactly. A folder with adapters opened
//! without the `lora` option (eval, predict) gets them merged into the weights at load.

use crate::checkpoint::Rng;
use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Init, Linear, VarBuilder, VarMap};
use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;
use std::{collections::HashMap, path::Path};

/// The linear layers of a Gemma decoder layer that can take an adapter.
pub const MODULES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
pub const ADAPTER_FILE: &str = "adapter_model.safetensors";
pub const ADAPTER_CONFIG: &str = "adapter_config.json";

fn err(msg: String) -> PluginError {
    PluginError::new(ErrorKind::INVALID_CONFIG, msg)
}

fn default_targets() -> Vec<String> {
    ["q_proj", "k_proj", "v_proj", "o_proj"].map(String::from).to_vec()
}

/// The `lora` option of the plugin config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank r of the update.
    pub rank: usize,
    /// Scale numerator: the update is multiplied by alpha / rank (default: rank, a scale of 1).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Only 0 (no dropout on the adapter input) is implemented.
    #[serde(default)]
    pub dropout: f64,
    /// Gemma decoder layers that get an adapter (default q_proj, k_proj, v_proj, o_proj).
    #[serde(default = "default_targets")]
    pub target_modules: Vec<String>,
    /// Seed of the A matrices' initialisation.
    #[serde(default)]
    pub seed: u64,
}

impl LoraConfig {
    pub fn validate(&self) -> std::result::Result<(), PluginError> {
        if self.rank == 0 {
            return Err(err("paligemma config: lora.rank must be at least 1".into()));
        }
        if self.dropout != 0.0 {
            return Err(err(format!("paligemma config: lora.dropout {} is not supported (only 0)", self.dropout)));
        }
        if self.target_modules.is_empty() {
            return Err(err("paligemma config: lora.target_modules is empty".into()));
        }
        for t in &self.target_modules {
            if !MODULES.contains(&t.as_str()) {
                return Err(err(format!("paligemma config: lora.target_modules: `{t}` is not a Gemma decoder layer ({})", MODULES.join(", "))));
            }
        }
        Ok(())
    }

    pub fn scale(&self) -> f64 {
        self.alpha.unwrap_or(self.rank as f64) / self.rank as f64
    }
}

/// Where adapters are created: the config and a builder on the adapters' own variables, at the
/// same path as the layer's weights.
#[derive(Clone)]
pub struct LoraSpec<'a> {
    pub cfg: &'a LoraConfig,
    pub vb: VarBuilder<'a>,
}

impl<'a> LoraSpec<'a> {
    pub fn pp(&self, s: impl ToString) -> Self {
        Self { cfg: self.cfg, vb: self.vb.pp(s) }
    }
}

/// A linear layer with an optional low-rank update.
pub struct LoraLinear {
    base: Linear,
    adapter: Option<(Linear, Linear, f64)>,
}

impl LoraLinear {
    /// `base` at path `…/{name}`; `spec` at the parent path. The adapter exists when `name` is a
    /// target module.
    pub fn new(base: Linear, name: &str, spec: Option<&LoraSpec>) -> Result<Self> {
        let adapter = match spec {
            Some(s) if s.cfg.target_modules.iter().any(|t| t == name) => {
                let (out, inp) = base.weight().dims2()?;
                let vb = s.vb.pp(name);
                // Values are set by `init_adapters` (seeded) or read from a checkpoint.
                let a = vb.pp("lora_A").get_with_hints((s.cfg.rank, inp), "weight", Init::Const(0.0))?;
                let b = vb.pp("lora_B").get_with_hints((out, s.cfg.rank), "weight", Init::Const(0.0))?;
                Some((Linear::new(a, None), Linear::new(b, None), s.cfg.scale()))
            }
            _ => None,
        };
        Ok(Self { base, adapter })
    }
}

impl Module for LoraLinear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.base.forward(x)?;
        match &self.adapter {
            Some((a, b, scale)) => y + (b.forward(&a.forward(x)?)? * *scale)?,
            None => Ok(y),
        }
    }
}

/// PEFT's name of an adapter variable: `base_model.model.` + the module path of transformers 5
/// (`model.language_model.layers.…`), from ours (`language_model.model.layers.…`).
pub fn peft_name(var: &str) -> String {
    let rest = var.strip_prefix("language_model.model.").unwrap_or(var);
    format!("base_model.model.model.language_model.{rest}")
}

/// Our variable name of a PEFT adapter key (both `…lora_A.weight` and `…lora_A.default.weight`).
pub fn var_name(peft: &str) -> Option<String> {
    let rest = peft.strip_prefix("base_model.model.")?;
    let rest = rest.strip_prefix("model.language_model.").or_else(|| rest.strip_prefix("language_model.model."))?;
    Some(format!("language_model.model.{}", rest.replace(".default.", ".")))
}

/// Seeded initialisation: A from U(−1/√in, 1/√in) (PEFT's `kaiming_uniform_(a=√5)`), B zero.
pub fn init_adapters(adapters: &VarMap, seed: u64) -> Result<()> {
    let data = adapters.data().lock().expect("var map lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = Rng::new(seed);
    for name in names {
        let var = &data[name];
        if name.ends_with("lora_A.weight") {
            let (r, inp) = var.dims2()?;
            let bound = 1.0 / (inp as f64).sqrt();
            let v: Vec<f32> = (0..r * inp).map(|_| ((2.0 * rng.uniform() - 1.0) * bound) as f32).collect();
            var.set(&Tensor::from_vec(v, (r, inp), var.device())?.to_dtype(var.dtype())?)?;
        } else {
            var.set(&var.zeros_like()?)?;
        }
    }
    Ok(())
}

/// `adapter_config.json` in PEFT's layout; the target regex keeps vision layers of the same
/// names (SigLIP's q_proj…) out, as here.
pub fn config_json(cfg: &LoraConfig, base: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "peft_type": "LORA",
        "task_type": null,
        "base_model_name_or_path": base,
        "r": cfg.rank,
        "lora_alpha": cfg.alpha.unwrap_or(cfg.rank as f64),
        "lora_dropout": cfg.dropout,
        "target_modules": format!(r".*language_model.*\.({})", cfg.target_modules.join("|")),
        "bias": "none",
        "fan_in_fan_out": false,
        "use_rslora": false,
        "init_lora_weights": true,
        "inference_mode": true,
        "lmmrotate": {"seed": cfg.seed},
    })
}

/// Writes the adapters of `adapters` (PEFT names) and their config into `dir`.
pub fn save(adapters: &VarMap, cfg: &LoraConfig, base: Option<&str>, dir: &Path) -> std::result::Result<(), PluginError> {
    let data = adapters.data().lock().expect("var map lock");
    let mut out = HashMap::with_capacity(data.len());
    for (k, v) in data.iter() {
        let t = v.as_tensor().to_device(&Device::Cpu).map_err(|e| PluginError::new(ErrorKind::BACKEND, format!("saving `{k}`: {e}")))?;
        out.insert(peft_name(k), t);
    }
    let file = dir.join(ADAPTER_FILE);
    candle_core::safetensors::save(&out, &file).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))?;
    let file = dir.join(ADAPTER_CONFIG);
    let text = serde_json::to_string_pretty(&config_json(cfg, base)).expect("json");
    std::fs::write(&file, text).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))
}

/// Adapters saved in `dir`: the LoRA config they were made with and the tensors by our names.
pub struct Saved {
    pub cfg: LoraConfig,
    pub tensors: HashMap<String, Tensor>,
}

/// Reads `adapter_config.json` + `adapter_model.safetensors` of `dir`, if there are any.
pub fn read(dir: &Path) -> std::result::Result<Option<Saved>, PluginError> {
    let file = dir.join(ADAPTER_FILE);
    if !file.is_file() {
        return Ok(None);
    }
    let cfg_file = dir.join(ADAPTER_CONFIG);
    let parse = |m: String| PluginError::new(ErrorKind::PARSE, format!("{}: {m}", cfg_file.display()));
    let text = std::fs::read_to_string(&cfg_file).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", cfg_file.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| parse(format!("line {}: {e}", e.line())))?;
    let rank = v["r"].as_u64().ok_or_else(|| parse("`r` must be a positive integer".into()))? as usize;
    let alpha = v["lora_alpha"].as_f64().ok_or_else(|| parse("`lora_alpha` must be a number".into()))?;
    let seed = v["lmmrotate"]["seed"].as_u64().unwrap_or(0);
    let raw = candle_core::safetensors::load(&file, &Device::Cpu)
        .map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: cannot read adapters: {e}", file.display())))?;
    let mut tensors = HashMap::with_capacity(raw.len());
    let mut targets: Vec<String> = Vec::new();
    for (k, t) in raw {
        let name = var_name(&k).ok_or_else(|| PluginError::new(ErrorKind::PARSE, format!("{}: `{k}` is not an adapter of the Gemma decoder", file.display())))?;
        if let Some(m) = MODULES.iter().find(|m| name.contains(&format!(".{m}.lora_"))) {
            if !targets.iter().any(|t| t == m) {
                targets.push(m.to_string());
            }
        }
        tensors.insert(name, t);
    }
    targets.sort_by_key(|t| MODULES.iter().position(|m| m == t));
    Ok(Some(Saved { cfg: LoraConfig { rank, alpha: Some(alpha), dropout: 0.0, target_modules: targets, seed }, tensors }))
}

/// Copies saved adapter tensors into the adapter variables (same names and shapes, all present).
pub fn copy_into(adapters: &VarMap, saved: &HashMap<String, Tensor>, dir: &Path) -> std::result::Result<(), PluginError> {
    let data = adapters.data().lock().expect("var map lock");
    let mut problems = Vec::new();
    for (name, var) in data.iter() {
        match saved.get(name) {
            None => problems.push(format!("missing `{}`", peft_name(name))),
            Some(t) if t.dims() != var.dims() => problems.push(format!("`{}` has shape {:?}, expected {:?}", peft_name(name), t.dims(), var.dims())),
            Some(t) => {
                if let Err(e) = t.to_dtype(var.dtype()).and_then(|t| t.to_device(var.device())).and_then(|t| var.set(&t)) {
                    problems.push(format!("`{name}`: {e}"));
                }
            }
        }
    }
    for k in saved.keys() {
        if !data.contains_key(k) {
            problems.push(format!("unexpected `{}`", peft_name(k)));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PluginError::new(ErrorKind::PARSE, format!("{}: {}", dir.join(ADAPTER_FILE).display(), problems.join("; "))))
    }
}

/// Merges saved adapters into the base variables: W ← W + (alpha / r) · B A (in f32).
pub fn merge_into(vars: &VarMap, saved: &Saved, dir: &Path) -> std::result::Result<usize, PluginError> {
    let data = vars.data().lock().expect("var map lock");
    let scale = saved.cfg.scale();
    let mut merged = 0;
    let mut names: Vec<&String> = saved.tensors.keys().filter(|k| k.ends_with(".lora_A.weight")).collect();
    names.sort();
    for a_name in names {
        let module = a_name.trim_end_matches(".lora_A.weight");
        let bad = |m: String| PluginError::new(ErrorKind::PARSE, format!("{}: {m}", dir.join(ADAPTER_FILE).display()));
        let b = saved.tensors.get(&format!("{module}.lora_B.weight")).ok_or_else(|| bad(format!("`{module}` has lora_A but no lora_B")))?;
        let w = data.get(&format!("{module}.weight")).ok_or_else(|| bad(format!("no weight `{module}.weight` in the model for this adapter")))?;
        let upd = || -> Result<()> {
            let a = saved.tensors[a_name.as_str()].to_dtype(DType::F32)?.to_device(w.device())?;
            let delta = (b.to_dtype(DType::F32)?.to_device(w.device())?.matmul(&a)? * scale)?;
            if delta.dims() != w.dims() {
                candle_core::bail!("update shape {:?}, weight {:?}", delta.dims(), w.dims())
            }
            w.set(&(w.as_tensor().to_dtype(DType::F32)? + delta)?.to_dtype(w.dtype())?)
        };
        upd().map_err(|e| bad(format!("merging `{module}`: {e}")))?;
        merged += 1;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_peft() {
        let ours = "language_model.model.layers.3.self_attn.q_proj.lora_A.weight";
        let peft = peft_name(ours);
        assert_eq!(peft, "base_model.model.model.language_model.layers.3.self_attn.q_proj.lora_A.weight");
        assert_eq!(var_name(&peft).as_deref(), Some(ours));
        assert_eq!(var_name("base_model.model.model.language_model.layers.3.self_attn.q_proj.lora_A.default.weight").as_deref(), Some(ours));
        assert_eq!(var_name("base_model.model.model.vision_tower.x.lora_A.weight"), None);
    }

    #[test]
    fn bad_options_are_named() {
        let c = |j: &str| serde_json::from_str::<LoraConfig>(j).unwrap().validate().unwrap_err().to_string();
        assert!(c(r#"{"rank": 4, "dropout": 0.1}"#).contains("lora.dropout 0.1 is not supported"));
        assert!(c(r#"{"rank": 4, "target_modules": ["out_proj"]}"#).contains("`out_proj` is not a Gemma decoder layer"));
        assert!(c(r#"{"rank": 0}"#).contains("at least 1"));
    }

    #[test]
    fn the_update_is_scaled_and_starts_at_zero() {
        let dev = Device::Cpu;
        let cfg = LoraConfig { rank: 2, alpha: Some(8.0), dropout: 0.0, target_modules: vec!["q_proj".into()], seed: 1 };
        let adapters = VarMap::new();
        let spec = LoraSpec { cfg: &cfg, vb: VarBuilder::from_varmap(&adapters, DType::F32, &dev) };
        let w = Tensor::new(&[[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0]], &dev).unwrap();
        let l = LoraLinear::new(Linear::new(w, None), "q_proj", Some(&spec)).unwrap();
        init_adapters(&adapters, cfg.seed).unwrap();
        let x = Tensor::new(&[[1.0f32, 2.0, 3.0]], &dev).unwrap();
        assert_eq!(l.forward(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![1.0, 2.0]]);
        // B = 1: y = x Wᵀ + 4 · (x Aᵀ) summed over the rank.
        let data = adapters.data().lock().unwrap();
        let b = &data["q_proj.lora_B.weight"];
        b.set(&b.ones_like().unwrap()).unwrap();
        let a: Vec<Vec<f32>> = data["q_proj.lora_A.weight"].to_vec2().unwrap();
        drop(data);
        let xa: f32 = a.iter().map(|row| row[0] + 2.0 * row[1] + 3.0 * row[2]).sum();
        let y = l.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        assert!((y[0][0] - (1.0 + 4.0 * xa)).abs() < 1e-5 && (y[0][1] - (2.0 + 4.0 * xa)).abs() < 1e-5, "{y:?}");
        assert!(a.iter().flatten().all(|v| v.abs() <= 1.0 / 3f32.sqrt()) && a[0][0] != 0.0);
    }
}
