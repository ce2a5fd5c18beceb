//! The model options every command that opens a model shares, and the plugin config overrides
//! they make.

use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model plugin (see `lmmrotate plugins`).
    #[arg(long, default_value = "florence2")]
    pub model: String,
    /// Checkpoint folder, Hugging Face layout (upstream --model_name_or_path / --model_ckpt_path).
    #[arg(long, alias = "model_name_or_path", alias = "model-name-or-path", alias = "model_ckpt_path", value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long)]
    pub device: Option<String>,
    /// fp32, bf16 or fp16.
    #[arg(long)]
    pub dtype: Option<String>,
    /// Further model options as a JSON object, merged over the registry's config.
    #[arg(long, value_name = "JSON", value_parser = super::json_object)]
    pub model_config: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ModelArgs {
    /// The config overrides: `extra` (command-specific keys), then these options, then
    /// `--model-config`. A checkpoint (`resume` or `--checkpoint`) brings its own weights and
    /// tokenizer, so the registry's `variant` and `tokenizer` are cleared.
    pub fn overrides(&self, resume: Option<&Path>, extra: serde_json::Map<String, serde_json::Value>) -> Result<serde_json::Value> {
        let mut o = extra;
        if let Some(c) = resume.map(Path::to_path_buf).or_else(|| self.checkpoint.clone()) {
            o.insert("checkpoint".into(), c.display().to_string().into());
            o.insert("variant".into(), serde_json::Value::Null);
            o.insert("tokenizer".into(), serde_json::Value::Null);
        }
        if let Some(d) = &self.device {
            o.insert("device".into(), d.clone().into());
        }
        if let Some(d) = &self.dtype {
            o.insert("dtype".into(), d.clone().into());
        }
        if let Some(j) = &self.model_config {
            o.extend(j.clone());
        }
        Ok(serde_json::Value::Object(o))
    }
}
