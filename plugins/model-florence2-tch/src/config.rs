//! Florence-2 configuration: the architecture read from a Hugging Face `config.json` (the original
//! microsoft layout or the transformers-native one), presets, and the plugin's own options.

use lmmrotate_abi::{ErrorKind, PluginError};
use serde::Deserialize;
use serde_json::Value;

/// The DaViT vision tower.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub dim_embed: Vec<i64>,
    pub num_heads: Vec<i64>,
    pub num_groups: Vec<i64>,
    pub depths: Vec<i64>,
    pub patch_size: Vec<i64>,
    pub patch_stride: Vec<i64>,
    pub patch_padding: Vec<i64>,
    pub patch_prenorm: Vec<bool>,
    pub window_size: i64,
    pub mlp_ratio: f64,
    pub drop_path_rate: f64,
    /// Rows of each 2-D position table (50: grids up to 50×50, i.e. 1600 px).
    pub max_pos_embeddings: i64,
    pub max_temporal_embeddings: i64,
}

/// The BART encoder-decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub vocab_size: i64,
    pub d_model: i64,
    pub encoder_layers: i64,
    pub decoder_layers: i64,
    pub encoder_attention_heads: i64,
    pub decoder_attention_heads: i64,
    pub encoder_ffn_dim: i64,
    pub decoder_ffn_dim: i64,
    /// Positions of the learned tables (they hold 2 more rows: BART's offset).
    pub max_position_embeddings: i64,
    pub dropout: f64,
    pub attention_dropout: f64,
    pub activation_dropout: f64,
    pub scale_embedding: bool,
    pub pad_token_id: i64,
    pub bos_token_id: i64,
    pub eos_token_id: i64,
    pub decoder_start_token_id: i64,
    pub forced_bos_token_id: Option<i64>,
    pub forced_eos_token_id: Option<i64>,
    pub no_repeat_ngram_size: i64,
    pub num_beams: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Florence2Config {
    pub vision: VisionConfig,
    pub text: TextConfig,
    /// `image_projection` output width (= text d_model).
    pub projection_dim: i64,
}

fn err(msg: String) -> PluginError {
    PluginError::new(ErrorKind::INVALID_CONFIG, msg)
}

struct Obj<'a> {
    v: &'a Value,
    path: &'a str,
}

impl<'a> Obj<'a> {
    fn get(&self, keys: &[&str]) -> Option<&'a Value> {
        keys.iter().find_map(|k| self.v.get(*k)).filter(|v| !v.is_null())
    }
    fn req(&self, keys: &[&str]) -> Result<&'a Value, PluginError> {
        self.get(keys).ok_or_else(|| err(format!("config.json: `{}.{}` is missing", self.path, keys[0])))
    }
    fn int(&self, keys: &[&str]) -> Result<i64, PluginError> {
        self.req(keys)?.as_i64().ok_or_else(|| err(format!("config.json: `{}.{}` must be an integer", self.path, keys[0])))
    }
    fn int_or(&self, keys: &[&str], d: i64) -> Result<i64, PluginError> {
        if self.get(keys).is_some() {
            self.int(keys)
        } else {
            Ok(d)
        }
    }
    fn float_or(&self, keys: &[&str], d: f64) -> Result<f64, PluginError> {
        match self.get(keys) {
            Some(v) => v.as_f64().ok_or_else(|| err(format!("config.json: `{}.{}` must be a number", self.path, keys[0]))),
            None => Ok(d),
        }
    }
    fn ints(&self, keys: &[&str]) -> Result<Vec<i64>, PluginError> {
        let a = self.req(keys)?.as_array().ok_or_else(|| err(format!("config.json: `{}.{}` must be a list", self.path, keys[0])))?;
        a.iter()
            .map(|x| x.as_i64().ok_or_else(|| err(format!("config.json: `{}.{}` must hold integers", self.path, keys[0]))))
            .collect()
    }
}

impl Florence2Config {
    /// Reads a Hugging Face Florence-2 `config.json`, original (`davit` vision config) or
    /// transformers-native (`florence_vision`), as parsed JSON.
    pub fn from_hf_json(v: &Value) -> Result<Self, PluginError> {
        let vis = Obj { v: v.get("vision_config").ok_or_else(|| err("config.json: `vision_config` is missing".into()))?, path: "vision_config" };
        let txt = Obj { v: v.get("text_config").ok_or_else(|| err("config.json: `text_config` is missing".into()))?, path: "text_config" };
        let depths = vis.ints(&["depths"])?;
        let n = depths.len();
        let prenorm = match vis.get(&["patch_prenorm"]) {
            Some(Value::Array(a)) => a.iter().map(|b| b.as_bool().unwrap_or(false)).collect(),
            _ => (0..n).map(|i| i > 0).collect(),
        };
        let pos_max = match vis.get(&["image_pos_embed"]) {
            Some(o) => o.get("max_pos_embeddings").and_then(Value::as_i64).unwrap_or(50),
            None => vis.int_or(&["max_position_embeddings", "max_pos_embeddings"], 50)?,
        };
        let temporal_max = match vis.get(&["visual_temporal_embedding"]) {
            Some(o) => o.get("max_temporal_embeddings").and_then(Value::as_i64).unwrap_or(100),
            None => vis.int_or(&["max_temporal_embeddings"], 100)?,
        };
        let vision = VisionConfig {
            dim_embed: vis.ints(&["dim_embed", "embed_dim"])?,
            num_heads: vis.ints(&["num_heads"])?,
            num_groups: vis.ints(&["num_groups"])?,
            depths,
            patch_size: vis.ints(&["patch_size"])?,
            patch_stride: vis.ints(&["patch_stride"])?,
            patch_padding: vis.ints(&["patch_padding"])?,
            patch_prenorm: prenorm,
            window_size: vis.int_or(&["window_size"], 12)?,
            mlp_ratio: vis.float_or(&["mlp_ratio"], 4.0)?,
            drop_path_rate: vis.float_or(&["drop_path_rate"], 0.1)?,
            max_pos_embeddings: pos_max,
            max_temporal_embeddings: temporal_max,
        };
        for (name, len) in [
            ("dim_embed", vision.dim_embed.len()),
            ("num_heads", vision.num_heads.len()),
            ("num_groups", vision.num_groups.len()),
            ("patch_size", vision.patch_size.len()),
            ("patch_stride", vision.patch_stride.len()),
            ("patch_padding", vision.patch_padding.len()),
            ("patch_prenorm", vision.patch_prenorm.len()),
        ] {
            if len != n {
                return Err(err(format!("config.json: vision_config.{name} has {len} stages, depths has {n}")));
            }
        }
        let d_model = txt.int(&["d_model"])?;
        let text = TextConfig {
            vocab_size: txt.int(&["vocab_size"])?,
            d_model,
            encoder_layers: txt.int(&["encoder_layers"])?,
            decoder_layers: txt.int(&["decoder_layers"])?,
            encoder_attention_heads: txt.int(&["encoder_attention_heads"])?,
            decoder_attention_heads: txt.int(&["decoder_attention_heads"])?,
            encoder_ffn_dim: txt.int(&["encoder_ffn_dim"])?,
            decoder_ffn_dim: txt.int(&["decoder_ffn_dim"])?,
            max_position_embeddings: txt.int_or(&["max_position_embeddings"], 1024)?,
            dropout: txt.float_or(&["dropout"], 0.1)?,
            attention_dropout: txt.float_or(&["attention_dropout"], 0.0)?,
            activation_dropout: txt.float_or(&["activation_dropout"], 0.0)?,
            scale_embedding: txt.get(&["scale_embedding"]).and_then(Value::as_bool).unwrap_or(false),
            pad_token_id: txt.int_or(&["pad_token_id"], 1)?,
            bos_token_id: txt.int_or(&["bos_token_id"], 0)?,
            eos_token_id: txt.int_or(&["eos_token_id"], 2)?,
            decoder_start_token_id: txt.int_or(&["decoder_start_token_id"], 2)?,
            forced_bos_token_id: txt.get(&["forced_bos_token_id"]).and_then(Value::as_i64),
            forced_eos_token_id: txt.get(&["forced_eos_token_id"]).and_then(Value::as_i64),
            no_repeat_ngram_size: txt.int_or(&["no_repeat_ngram_size"], 3)?,
            num_beams: txt.int_or(&["num_beams"], 3)?,
        };
        if let Some(act) = txt.get(&["activation_function"]).and_then(Value::as_str) {
            if act != "gelu" {
                return Err(err(format!("config.json: text_config.activation_function `{act}` is not supported (Florence-2 uses gelu)")));
            }
        }
        let projection_dim = vis.int_or(&["projection_dim"], d_model)?;
        if projection_dim != d_model {
            return Err(err(format!("config.json: projection_dim {projection_dim} differs from text d_model {d_model}")));
        }
        Ok(Self { vision, text, projection_dim })
    }

    /// Fills in the generation settings of a `generation_config.json` (transformers 5 keeps
    /// `forced_bos_token_id`, `no_repeat_ngram_size`, ... there rather than in config.json).
    pub fn apply_generation_config(&mut self, g: &Value) {
        let t = &mut self.text;
        let int = |k: &str| g.get(k).and_then(Value::as_i64);
        if let Some(v) = int("decoder_start_token_id") {
            t.decoder_start_token_id = v;
        }
        if let Some(v) = int("forced_bos_token_id") {
            t.forced_bos_token_id = Some(v);
        }
        if let Some(v) = int("forced_eos_token_id") {
            t.forced_eos_token_id = Some(v);
        }
        if let Some(v) = int("no_repeat_ngram_size") {
            t.no_repeat_ngram_size = v;
        }
        if let Some(v) = int("num_beams") {
            t.num_beams = v;
        }
        if let Some(v) = int("eos_token_id") {
            t.eos_token_id = v;
        }
        if let Some(v) = int("pad_token_id") {
            t.pad_token_id = v;
        }
    }

    /// The `generation_config.json` written next to saved weights (LMMRotate's settings).
    pub fn generation_json(&self) -> Value {
        let t = &self.text;
        serde_json::json!({
            "bos_token_id": t.bos_token_id, "eos_token_id": t.eos_token_id, "pad_token_id": t.pad_token_id,
            "decoder_start_token_id": t.decoder_start_token_id,
            "forced_bos_token_id": t.forced_bos_token_id, "forced_eos_token_id": t.forced_eos_token_id,
            "no_repeat_ngram_size": t.no_repeat_ngram_size, "num_beams": t.num_beams, "early_stopping": true,
        })
    }

    /// The config in the original microsoft layout, as written next to saved weights.
    pub fn to_hf_json(&self) -> Value {
        let v = &self.vision;
        let t = &self.text;
        serde_json::json!({
            "architectures": ["Florence2ForConditionalGeneration"],
            "model_type": "florence2",
            "projection_dim": self.projection_dim,
            "vocab_size": t.vocab_size,
            "pad_token_id": t.pad_token_id,
            "bos_token_id": t.bos_token_id,
            "eos_token_id": t.eos_token_id,
            "is_encoder_decoder": true,
            "vision_config": {
                "model_type": "davit",
                "dim_embed": v.dim_embed, "num_heads": v.num_heads, "num_groups": v.num_groups, "depths": v.depths,
                "patch_size": v.patch_size, "patch_stride": v.patch_stride, "patch_padding": v.patch_padding,
                "patch_prenorm": v.patch_prenorm, "window_size": v.window_size, "drop_path_rate": v.drop_path_rate,
                "projection_dim": self.projection_dim, "enable_checkpoint": false,
                "image_pos_embed": {"type": "learned_abs_2d", "max_pos_embeddings": v.max_pos_embeddings},
                "visual_temporal_embedding": {"type": "COSINE", "max_temporal_embeddings": v.max_temporal_embeddings},
                "image_feature_source": ["spatial_avg_pool", "temporal_avg_pool"],
            },
            "text_config": self.text_json("florence2_language", serde_json::json!({
                "add_final_layer_norm": false, "normalize_before": false, "init_std": 0.02, "early_stopping": true,
            })),
        })
    }

    /// The BART fields of `text_config`, the same in both layouts, plus `extra`.
    fn text_json(&self, model_type: &str, extra: Value) -> Value {
        let t = &self.text;
        let mut v = serde_json::json!({
            "model_type": model_type,
            "vocab_size": t.vocab_size, "d_model": t.d_model,
            "encoder_layers": t.encoder_layers, "decoder_layers": t.decoder_layers,
            "encoder_attention_heads": t.encoder_attention_heads, "decoder_attention_heads": t.decoder_attention_heads,
            "encoder_ffn_dim": t.encoder_ffn_dim, "decoder_ffn_dim": t.decoder_ffn_dim,
            "max_position_embeddings": t.max_position_embeddings,
            "dropout": t.dropout, "attention_dropout": t.attention_dropout, "activation_dropout": t.activation_dropout,
            "activation_function": "gelu", "scale_embedding": t.scale_embedding,
            "pad_token_id": t.pad_token_id, "bos_token_id": t.bos_token_id, "eos_token_id": t.eos_token_id,
            "decoder_start_token_id": t.decoder_start_token_id,
            "forced_bos_token_id": t.forced_bos_token_id, "forced_eos_token_id": t.forced_eos_token_id,
            "no_repeat_ngram_size": t.no_repeat_ngram_size, "num_beams": t.num_beams,
            "is_encoder_decoder": true,
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    }

    /// The config in transformers' native layout (`florence_vision` + `bart`), as written next to
    /// native-layout weights. `image_token_id` is the first id after the vocabulary: the native
    /// model only uses it to place image features given by its processor.
    pub fn to_native_json(&self) -> Value {
        let v = &self.vision;
        let t = &self.text;
        serde_json::json!({
            "architectures": ["Florence2ForConditionalGeneration"],
            "model_type": "florence2",
            "image_token_id": t.vocab_size,
            "is_encoder_decoder": true,
            "tie_word_embeddings": true,
            "vision_config": {
                "model_type": "florence_vision",
                "in_channels": 3, "embed_dim": v.dim_embed, "num_heads": v.num_heads, "num_groups": v.num_groups,
                "depths": v.depths, "patch_size": v.patch_size, "patch_stride": v.patch_stride,
                "patch_padding": v.patch_padding, "patch_prenorm": v.patch_prenorm, "window_size": v.window_size,
                "drop_path_rate": v.drop_path_rate, "mlp_ratio": v.mlp_ratio, "qkv_bias": true,
                "activation_function": "gelu", "projection_dim": self.projection_dim,
                "max_temporal_embeddings": v.max_temporal_embeddings, "max_position_embeddings": v.max_pos_embeddings,
            },
            "text_config": self.text_json("bart", serde_json::json!({"tie_word_embeddings": true})),
        })
    }

    fn with(vision: VisionConfig, text: TextConfig) -> Self {
        let projection_dim = text.d_model;
        Self { vision, text, projection_dim }
    }

    fn text(d_model: i64, layers: i64, heads: i64, ffn: i64, vocab: i64) -> TextConfig {
        TextConfig {
            vocab_size: vocab,
            d_model,
            encoder_layers: layers,
            decoder_layers: layers,
            encoder_attention_heads: heads,
            decoder_attention_heads: heads,
            encoder_ffn_dim: ffn,
            decoder_ffn_dim: ffn,
            max_position_embeddings: 1024,
            dropout: 0.1,
            attention_dropout: 0.1,
            activation_dropout: 0.1,
            scale_embedding: false,
            pad_token_id: 1,
            bos_token_id: 0,
            eos_token_id: 2,
            decoder_start_token_id: 2,
            forced_bos_token_id: Some(0),
            forced_eos_token_id: Some(2),
            no_repeat_ngram_size: 3,
            num_beams: 3,
        }
    }

    fn vision(dims: [i64; 4], heads: [i64; 4]) -> VisionConfig {
        VisionConfig {
            dim_embed: dims.to_vec(),
            num_heads: heads.to_vec(),
            num_groups: heads.to_vec(),
            depths: vec![1, 1, 9, 1],
            patch_size: vec![7, 3, 3, 3],
            patch_stride: vec![4, 2, 2, 2],
            patch_padding: vec![3, 1, 1, 1],
            patch_prenorm: vec![false, true, true, true],
            window_size: 12,
            mlp_ratio: 4.0,
            drop_path_rate: 0.1,
            max_pos_embeddings: 50,
            max_temporal_embeddings: 100,
        }
    }

    /// microsoft/Florence-2-base config.json @ ceaf371.
    pub fn base() -> Self {
        Self::with(Self::vision([128, 256, 512, 1024], [4, 8, 16, 32]), Self::text(768, 6, 12, 3072, 51289))
    }

    /// microsoft/Florence-2-large config.json @ f928440 (1024 text positions; LMMRotate's pin).
    pub fn large() -> Self {
        Self::with(Self::vision([256, 512, 1024, 2048], [8, 16, 32, 64]), Self::text(1024, 12, 16, 4096, 51289))
    }

    /// A few-MB configuration of the same architecture, for tests and goldens.
    pub fn tiny() -> Self {
        let mut v = Self::vision([16, 32, 32, 64], [1, 1, 1, 2]);
        v.depths = vec![1, 1, 2, 1];
        v.window_size = 4;
        Self::with(v, Self::text(32, 2, 2, 64, 51289))
    }

    /// The demo's micro model: the same architecture at about 3 M parameters, for 256 px
    /// synthetic scenes (windows of 8 tile every stage of a 256 px input).
    pub fn micro() -> Self {
        let mut v = Self::vision([32, 64, 128, 256], [1, 2, 4, 8]);
        v.depths = vec![1, 1, 2, 1];
        v.window_size = 8;
        Self::with(v, Self::text(128, 3, 4, 512, 51289))
    }

    pub fn preset(name: &str) -> Result<Self, PluginError> {
        match name {
            "base" => Ok(Self::base()),
            "large" => Ok(Self::large()),
            "micro" => Ok(Self::micro()),
            "tiny" => Ok(Self::tiny()),
            other => Err(err(format!("unknown variant `{other}` (available: base, large, micro, tiny)"))),
        }
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
    pub fn kind(self) -> tch::Kind {
        match self {
            DType::Fp32 => tch::Kind::Float,
            DType::Bf16 => tch::Kind::BFloat16,
            DType::Fp16 => tch::Kind::Half,
        }
    }
}

/// The plugin's options (registry `config` merged with command-line overrides).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// A Hugging Face style folder (`config.json` + weights + tokenizer). Absent: random
    /// initialisation of `variant` (needs `tokenizer`).
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// `base`, `large` or `tiny`: the architecture when there is no checkpoint.
    #[serde(default)]
    pub variant: Option<String>,
    /// Tokenizer folder or `tokenizer.json`, when the checkpoint has none.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Square input size in pixels (768 Florence-2 default, 1024 LMMRotate).
    #[serde(default = "default_image_size")]
    pub image_size: u32,
    /// Text positions; more than the checkpoint's extends both position tables as LMMRotate does.
    #[serde(default)]
    pub max_text_len: Option<u32>,
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    #[serde(default = "default_device")]
    pub device: String,
    #[serde(default)]
    pub dtype: DType,
    /// Seed of random initialisation and dropout.
    #[serde(default)]
    pub seed: u64,
    /// Formats the model is meant to emit (reported in `info`).
    #[serde(default)]
    pub formats: Vec<String>,
    /// Log the time of each phase of a training step (synchronising the device between phases).
    #[serde(default)]
    pub profile: bool,
    /// Key layout of saved checkpoints: `original` (microsoft's, default) or `native`
    /// (transformers' `Florence2ForConditionalGeneration`).
    #[serde(default)]
    pub save_layout: crate::checkpoint::Layout,
}

fn default_image_size() -> u32 {
    768
}
fn default_device() -> String {
    "auto".into()
}

impl PluginConfig {
    pub fn from_json(text: &str) -> Result<Self, PluginError> {
        let c: Self = serde_json::from_str(text).map_err(|e| err(format!("florence2 config: {e}")))?;
        if c.image_size == 0 || c.image_size % 32 != 0 {
            return Err(err(format!("florence2 config: image_size {} must be a positive multiple of 32", c.image_size)));
        }
        Ok(c)
    }

    pub fn device(&self) -> Result<tch::Device, PluginError> {
        match self.device.as_str() {
            "auto" => Ok(tch::Device::cuda_if_available()),
            "cpu" => Ok(tch::Device::Cpu),
            "cuda" => Ok(tch::Device::Cuda(0)),
            s => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => Ok(tch::Device::Cuda(n)),
                None => Err(err(format!("florence2 config: device `{s}` (use cpu, cuda, cuda:N or auto)"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_hf_json() {
        for c in [Florence2Config::base(), Florence2Config::large(), Florence2Config::micro(), Florence2Config::tiny()] {
            assert_eq!(Florence2Config::from_hf_json(&c.to_hf_json()).unwrap(), c);
            assert_eq!(Florence2Config::from_hf_json(&c.to_native_json()).unwrap(), c);
        }
    }

    #[test]
    fn generation_config_fills_what_transformers_5_moved_out_of_config_json() {
        let mut c = Florence2Config::tiny();
        c.text.forced_bos_token_id = None;
        c.text.no_repeat_ngram_size = 0;
        c.apply_generation_config(&serde_json::json!({"forced_bos_token_id": 0, "no_repeat_ngram_size": 3, "num_beams": 3}));
        assert_eq!((c.text.forced_bos_token_id, c.text.no_repeat_ngram_size, c.text.num_beams), (Some(0), 3, 3));
        let g = c.generation_json();
        assert_eq!((g["forced_bos_token_id"].as_i64(), g["decoder_start_token_id"].as_i64()), (Some(0), Some(2)));
    }

    #[test]
    fn missing_keys_are_named() {
        let mut j = Florence2Config::tiny().to_hf_json();
        j["text_config"].as_object_mut().unwrap().remove("d_model");
        let e = Florence2Config::from_hf_json(&j).unwrap_err().to_string();
        assert_eq!(e, "invalid config: config.json: `text_config.d_model` is missing");
    }

    #[test]
    fn plugin_config_rejects_unknown_keys_and_bad_sizes() {
        assert!(PluginConfig::from_json(r#"{"image_sise": 768}"#).unwrap_err().to_string().contains("unknown field `image_sise`"));
        assert!(PluginConfig::from_json(r#"{"image_size": 100}"#).unwrap_err().to_string().contains("multiple of 32"));
        assert_eq!(PluginConfig::from_json("{}").unwrap().image_size, 768);
    }
}
