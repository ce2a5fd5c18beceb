//! PaliGemma configuration: the architecture read from a Hugging Face `config.json` (hub
//! checkpoints of transformers 4.x and the transformers-5 layout), presets, the image
//! preprocessing of `preprocessor_config.json`, and the plugin's own options.

use candle_transformers::models::siglip::VisionConfig;
use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;
use serde_json::Value;

/// The Gemma decoder, with transformers' `GemmaConfig` defaults for keys the hub configs omit.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
}

#[derive(Debug, Clone)]
pub struct PaliGemmaConfig {
    /// SigLIP, as candle-transformers reads it (its serde defaults are transformers').
    pub vision: VisionConfig,
    pub text: TextConfig,
    /// Output width of the projector (= text hidden size).
    pub projection_dim: usize,
    pub image_token_id: u32,
    pub pad_token_id: u32,
    pub bos_token_id: u32,
    pub eos_token_id: u32,
}

impl PartialEq for PaliGemmaConfig {
    fn eq(&self, o: &Self) -> bool {
        let (a, b) = (&self.vision, &o.vision);
        (a.hidden_size, a.intermediate_size, a.num_hidden_layers, a.num_attention_heads, a.num_channels, a.image_size, a.patch_size)
            == (b.hidden_size, b.intermediate_size, b.num_hidden_layers, b.num_attention_heads, b.num_channels, b.image_size, b.patch_size)
            && a.layer_norm_eps == b.layer_norm_eps
            && self.text == o.text
            && (self.projection_dim, self.image_token_id, self.pad_token_id, self.bos_token_id, self.eos_token_id)
                == (o.projection_dim, o.image_token_id, o.pad_token_id, o.bos_token_id, o.eos_token_id)
    }
}

fn err(msg: String) -> PluginError {
    PluginError::new(ErrorKind::INVALID_CONFIG, msg)
}

/// A JSON object with the path it was read from, for error messages.
struct Obj<'a> {
    v: &'a Value,
    path: &'a str,
}

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.v.get(key).filter(|v| !v.is_null())
    }
    fn usize_or(&self, key: &str, d: Option<usize>) -> Result<usize, PluginError> {
        match self.get(key) {
            Some(v) => v.as_u64().map(|x| x as usize).ok_or_else(|| err(format!("config.json: `{}{key}` must be a non-negative integer", self.path))),
            None => d.ok_or_else(|| err(format!("config.json: `{}{key}` is missing", self.path))),
        }
    }
    fn f64_or(&self, key: &str, d: f64) -> Result<f64, PluginError> {
        match self.get(key) {
            Some(v) => v.as_f64().ok_or_else(|| err(format!("config.json: `{}{key}` must be a number", self.path))),
            None => Ok(d),
        }
    }
}

impl PaliGemmaConfig {
    /// Reads a Hugging Face PaliGemma `config.json` (parsed).
    pub fn from_hf_json(v: &Value) -> Result<Self, PluginError> {
        let top = Obj { v, path: "" };
        if let Some(t) = top.get("model_type").and_then(Value::as_str) {
            if t != "paligemma" {
                return Err(err(format!("config.json: model_type `{t}` is not paligemma")));
            }
        }
        let vis_v = v.get("vision_config").ok_or_else(|| err("config.json: `vision_config` is missing".into()))?;
        let vision: VisionConfig =
            serde_json::from_value(vis_v.clone()).map_err(|e| err(format!("config.json: `vision_config`: {e}")))?;
        if !matches!(vision.hidden_act, candle_nn::Activation::GeluPytorchTanh) {
            return Err(err(format!("config.json: vision_config.hidden_act {:?} is not supported (SigLIP uses gelu_pytorch_tanh)", vision.hidden_act)));
        }
        if vis_v.get("vision_use_head").and_then(Value::as_bool) == Some(true) {
            return Err(err("config.json: vision_config.vision_use_head = true is not PaliGemma's (it uses the patch tokens)".into()));
        }
        let t = Obj { v: v.get("text_config").ok_or_else(|| err("config.json: `text_config` is missing".into()))?, path: "text_config." };
        for key in ["hidden_act", "hidden_activation"] {
            if let Some(a) = t.get(key).and_then(Value::as_str) {
                if a != "gelu_pytorch_tanh" {
                    return Err(err(format!("config.json: text_config.{key} `{a}` is not supported (Gemma uses gelu_pytorch_tanh)")));
                }
            }
        }
        // transformers 5 moved rope_theta into rope_parameters.
        let rope_theta = match t.get("rope_parameters") {
            Some(p) => p.get("rope_theta").and_then(Value::as_f64).unwrap_or(10000.0),
            None => t.f64_or("rope_theta", 10000.0)?,
        };
        let hidden_size = t.usize_or("hidden_size", Some(2048))?;
        let num_attention_heads = t.usize_or("num_attention_heads", Some(8))?;
        let text = TextConfig {
            vocab_size: t.usize_or("vocab_size", Some(257216))?,
            hidden_size,
            intermediate_size: t.usize_or("intermediate_size", Some(16384))?,
            num_hidden_layers: t.usize_or("num_hidden_layers", Some(18))?,
            num_attention_heads,
            num_key_value_heads: t.usize_or("num_key_value_heads", Some(1))?,
            head_dim: t.usize_or("head_dim", Some(256))?,
            rms_norm_eps: t.f64_or("rms_norm_eps", 1e-6)?,
            rope_theta,
            max_position_embeddings: t.usize_or("max_position_embeddings", Some(8192))?,
        };
        if !text.num_attention_heads.is_multiple_of(text.num_key_value_heads.max(1)) || text.num_key_value_heads == 0 {
            return Err(err(format!(
                "config.json: text_config.num_attention_heads {} is not a multiple of num_key_value_heads {}",
                text.num_attention_heads, text.num_key_value_heads
            )));
        }
        if !vision.hidden_size.is_multiple_of(vision.num_attention_heads) {
            return Err(err(format!(
                "config.json: vision_config.hidden_size {} is not a multiple of num_attention_heads {}",
                vision.hidden_size, vision.num_attention_heads
            )));
        }
        if !vision.image_size.is_multiple_of(vision.patch_size) {
            return Err(err(format!(
                "config.json: vision_config.image_size {} is not a multiple of patch_size {}",
                vision.image_size, vision.patch_size
            )));
        }
        let projection_dim = match vis_v.get("projection_dim").and_then(Value::as_u64) {
            Some(p) => p as usize,
            None => top.usize_or("projection_dim", Some(hidden_size))?,
        };
        if projection_dim != hidden_size {
            return Err(err(format!("config.json: projection_dim {projection_dim} differs from text hidden_size {hidden_size}")));
        }
        let id = |keys: &[&str], d: u32| -> u32 {
            keys.iter().find_map(|k| v.get(*k).and_then(Value::as_u64)).map_or(d, |x| x as u32)
        };
        Ok(Self {
            vision,
            text,
            projection_dim,
            image_token_id: id(&["image_token_index", "image_token_id"], 257152),
            pad_token_id: id(&["pad_token_id"], 0),
            bos_token_id: id(&["bos_token_id"], 2),
            eos_token_id: id(&["eos_token_id"], 1),
        })
    }

    /// The config in the hub layout, as written next to saved weights (loads in transformers 5).
    pub fn to_hf_json(&self) -> Value {
        let (v, t) = (&self.vision, &self.text);
        let image_tokens = self.image_tokens();
        serde_json::json!({
            "architectures": ["PaliGemmaForConditionalGeneration"],
            "model_type": "paligemma",
            "image_token_index": self.image_token_id,
            "pad_token_id": self.pad_token_id, "bos_token_id": self.bos_token_id, "eos_token_id": self.eos_token_id,
            "projection_dim": self.projection_dim,
            "hidden_size": self.projection_dim,
            "tie_word_embeddings": true,
            "vision_config": {
                "model_type": "siglip_vision_model",
                "hidden_size": v.hidden_size, "intermediate_size": v.intermediate_size,
                "num_hidden_layers": v.num_hidden_layers, "num_attention_heads": v.num_attention_heads,
                "num_channels": v.num_channels, "image_size": v.image_size, "patch_size": v.patch_size,
                "layer_norm_eps": v.layer_norm_eps, "hidden_act": "gelu_pytorch_tanh",
                "projection_dim": self.projection_dim, "vision_use_head": false, "num_image_tokens": image_tokens,
            },
            "text_config": {
                "model_type": "gemma",
                "vocab_size": t.vocab_size, "hidden_size": t.hidden_size, "intermediate_size": t.intermediate_size,
                "num_hidden_layers": t.num_hidden_layers, "num_attention_heads": t.num_attention_heads,
                "num_key_value_heads": t.num_key_value_heads, "head_dim": t.head_dim,
                "rms_norm_eps": t.rms_norm_eps, "rope_theta": t.rope_theta,
                "max_position_embeddings": t.max_position_embeddings, "hidden_act": "gelu_pytorch_tanh",
                "num_image_tokens": image_tokens, "tie_word_embeddings": true,
                "pad_token_id": self.pad_token_id, "bos_token_id": self.bos_token_id, "eos_token_id": self.eos_token_id,
            },
        })
    }

    /// Image tokens per image: one per patch.
    pub fn image_tokens(&self) -> usize {
        let side = self.vision.image_size / self.vision.patch_size;
        side * side
    }

    fn with(vision: VisionConfig, text: TextConfig, vocab: usize) -> Self {
        Self {
            projection_dim: text.hidden_size,
            vision,
            text: TextConfig { vocab_size: vocab, ..text },
            image_token_id: 257152,
            pad_token_id: 0,
            bos_token_id: 2,
            eos_token_id: 1,
        }
    }

    fn gemma_2b() -> TextConfig {
        TextConfig {
            vocab_size: 257216,
            hidden_size: 2048,
            intermediate_size: 16384,
            num_hidden_layers: 18,
            num_attention_heads: 8,
            num_key_value_heads: 1,
            head_dim: 256,
            rms_norm_eps: 1e-6,
            rope_theta: 10000.0,
            max_position_embeddings: 8192,
        }
    }

    /// google/paligemma-3b-pt-224 config.json (SigLIP So400m/14 at 224 px + Gemma 2B).
    pub fn paligemma_3b_224() -> Self {
        Self::with(VisionConfig::paligemma_3b_224(), Self::gemma_2b(), 257216)
    }

    /// google/paligemma-3b-pt-448 config.json.
    pub fn paligemma_3b_448() -> Self {
        Self::with(VisionConfig::paligemma_3b_448(), Self::gemma_2b(), 257216)
    }

    /// The architecture of the tiny golden model (scripts/goldens/paligemma_reference.py): SigLIP
    /// 2 × 32 wide at 32 px with 8 px patches, Gemma 2 × 32 wide with 4 query heads sharing one
    /// key/value head of width 16, as PaliGemma-3b's multi-query attention.
    pub fn tiny() -> Self {
        let mut v = VisionConfig::paligemma_3b_224();
        (v.hidden_size, v.intermediate_size, v.num_hidden_layers, v.num_attention_heads) = (32, 64, 2, 2);
        (v.image_size, v.patch_size) = (32, 8);
        let t = TextConfig {
            hidden_size: 32,
            intermediate_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 1,
            head_dim: 16,
            max_position_embeddings: 256,
            ..Self::gemma_2b()
        };
        Self::with(v, t, 1418)
    }

    pub fn preset(name: &str) -> Result<Self, PluginError> {
        match name {
            "3b-224" => Ok(Self::paligemma_3b_224()),
            "3b-448" => Ok(Self::paligemma_3b_448()),
            "tiny" => Ok(Self::tiny()),
            other => Err(err(format!("unknown variant `{other}` (available: 3b-224, 3b-448, tiny)"))),
        }
    }
}

/// Image normalisation of a checkpoint: `(x / 255 - mean) / std` per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageNorm {
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Square side the preprocessor resizes to, when it says.
    pub size: Option<u32>,
}

impl Default for ImageNorm {
    /// PaliGemma's (SigLIP's) preprocessing: mean = std = 0.5.
    fn default() -> Self {
        Self { mean: [0.5; 3], std: [0.5; 3], size: None }
    }
}

impl ImageNorm {
    /// Reads `preprocessor_config.json`, or the `image_processor` object that transformers 5
    /// writes into `processor_config.json`; `file` names the source in errors.
    pub fn from_json(v: &Value, file: &str) -> Result<Self, PluginError> {
        let three = |key: &str, d: [f32; 3]| -> Result<[f32; 3], PluginError> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(d),
                Some(Value::Array(a)) if a.len() == 3 && a.iter().all(Value::is_number) => {
                    Ok([0, 1, 2].map(|i| a[i].as_f64().unwrap_or(0.0) as f32))
                }
                Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
                Some(_) => Err(err(format!("{file}: `{key}` must be 3 numbers"))),
            }
        };
        let std = three("image_std", [0.5; 3])?;
        if std.iter().any(|s| *s <= 0.0) {
            return Err(err(format!("{file}: `image_std` must be positive")));
        }
        let size = v.get("size").and_then(|s| s.get("height").or_else(|| s.get("shortest_edge"))).and_then(Value::as_u64).map(|x| x as u32);
        Ok(Self { mean: three("image_mean", [0.5; 3])?, std, size })
    }
}

/// Numeric type of weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    #[default]
    Fp32,
    Bf16,
    Fp16,
}

impl DType {
    pub fn candle(self) -> candle_core::DType {
        match self {
            DType::Fp32 => candle_core::DType::F32,
            DType::Bf16 => candle_core::DType::BF16,
            DType::Fp16 => candle_core::DType::F16,
        }
    }
}

/// The plugin's options (registry `config` merged with command-line overrides).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// A Hugging Face PaliGemma folder (`config.json`, safetensors, `tokenizer.json`). Absent:
    /// random initialisation of `variant` (needs `tokenizer`).
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// `3b-224`, `3b-448` or `tiny`: the architecture when there is no checkpoint.
    #[serde(default)]
    pub variant: Option<String>,
    /// Tokenizer folder or `tokenizer.json`, when the checkpoint has none.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Square input size in pixels; must equal the vision tower's (its position table is fixed).
    #[serde(default)]
    pub image_size: Option<u32>,
    /// Longest target (suffix) in tokens, `<eos>` included.
    #[serde(default = "default_max_text_len")]
    pub max_text_len: u32,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    #[serde(default = "default_device")]
    pub device: String,
    #[serde(default)]
    pub dtype: DType,
    /// Seed of random initialisation.
    #[serde(default)]
    pub seed: u64,
    /// Formats the model is meant to emit (reported in `info`).
    #[serde(default)]
    pub formats: Vec<String>,
    /// Train LoRA adapters of the Gemma decoder instead of all weights (`{"rank": 8}`; see
    /// `lora::LoraConfig`). Without it, adapters found in the checkpoint are merged at load.
    #[serde(default)]
    pub lora: Option<crate::lora::LoraConfig>,
}

fn default_max_text_len() -> u32 {
    1024
}
fn default_device() -> String {
    "auto".into()
}

impl PluginConfig {
    pub fn from_json(text: &str) -> Result<Self, PluginError> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let c: Self = serde_json::from_str(text).map_err(|e| err(format!("paligemma config: {e}")))?;
        if c.max_text_len < 2 {
            return Err(err(format!("paligemma config: max_text_len {} must be at least 2", c.max_text_len)));
        }
        if let Some(l) = &c.lora {
            l.validate()?;
        }
        Ok(c)
    }

    pub fn device(&self) -> Result<candle_core::Device, PluginError> {
        let cuda = |n: usize| {
            candle_core::Device::new_cuda(n)
                .map_err(|e| PluginError::new(ErrorKind::BACKEND, format!("paligemma: device cuda:{n}: {e}")))
        };
        match self.device.as_str() {
            "cpu" => Ok(candle_core::Device::Cpu),
            "auto" => Ok(if candle_core::utils::cuda_is_available() { cuda(0)? } else { candle_core::Device::Cpu }),
            "cuda" => cuda(0),
            s => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => cuda(n),
                None => Err(err(format!("paligemma config: device `{s}` (use cpu, cuda, cuda:N or auto)"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_hf_json() {
        for c in [PaliGemmaConfig::paligemma_3b_224(), PaliGemmaConfig::paligemma_3b_448(), PaliGemmaConfig::tiny()] {
            assert_eq!(PaliGemmaConfig::from_hf_json(&c.to_hf_json()).unwrap(), c);
        }
        assert_eq!(PaliGemmaConfig::paligemma_3b_224().image_tokens(), 256);
        assert_eq!(PaliGemmaConfig::paligemma_3b_448().image_tokens(), 1024);
    }

    #[test]
    fn hub_config_with_omitted_defaults_reads_as_the_preset() {
        // google/paligemma-3b-pt-224 config.json: text_config names only what differs from GemmaConfig.
        let hub = serde_json::json!({
            "architectures": ["PaliGemmaForConditionalGeneration"], "bos_token_id": 2, "eos_token_id": 1,
            "hidden_size": 2048, "image_token_index": 257152, "model_type": "paligemma", "pad_token_id": 0,
            "projection_dim": 2048,
            "text_config": {"hidden_size": 2048, "intermediate_size": 16384, "model_type": "gemma",
                "num_attention_heads": 8, "num_hidden_layers": 18, "num_image_tokens": 256,
                "num_key_value_heads": 1, "torch_dtype": "float32", "vocab_size": 257216},
            "vision_config": {"hidden_size": 1152, "intermediate_size": 4304, "model_type": "siglip_vision_model",
                "num_attention_heads": 16, "num_hidden_layers": 27, "num_image_tokens": 256, "patch_size": 14,
                "projection_dim": 2048, "projector_hidden_act": "gelu_fast", "vision_use_head": false},
        });
        assert_eq!(PaliGemmaConfig::from_hf_json(&hub).unwrap(), PaliGemmaConfig::paligemma_3b_224());
    }

    #[test]
    fn bad_configs_name_the_key() {
        let mut j = PaliGemmaConfig::tiny().to_hf_json();
        j["text_config"]["num_key_value_heads"] = serde_json::json!(3);
        let e = PaliGemmaConfig::from_hf_json(&j).unwrap_err().to_string();
        assert!(e.contains("num_attention_heads 4 is not a multiple of num_key_value_heads 3"), "{e}");
        let mut j = PaliGemmaConfig::tiny().to_hf_json();
        j["text_config"]["hidden_size"] = serde_json::json!("big");
        let e = PaliGemmaConfig::from_hf_json(&j).unwrap_err().to_string();
        assert!(e.contains("`text_config.hidden_size` must be a non-negative integer"), "{e}");
        assert!(PluginConfig::from_json(r#"{"image_sise": 224}"#).unwrap_err().to_string().contains("unknown field `image_sise`"));
    }

    #[test]
    fn image_norm_reads_both_layouts() {
        let n = ImageNorm::from_json(&serde_json::json!({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.5, 1.0], "size": {"height": 224, "width": 224}}), "p").unwrap();
        assert_eq!((n.std, n.size), ([0.25, 0.5, 1.0], Some(224)));
        assert!(ImageNorm::from_json(&serde_json::json!({"image_std": [0, 1, 1]}), "p").unwrap_err().to_string().contains("p: `image_std`"));
    }
}
