//! The `paligemma` model entry: loads a checkpoint folder (or initialises a preset), and serves
//! the ABI's generate / train_step / save through the network, tokenizer and optimizer.

use crate::{
    checkpoint,
    config::{ImageNorm, PaliGemmaConfig, PluginConfig},
    generate::{generate, GenerateOptions},
    lora::{self, LoraSpec},
    model::PaliGemma,
    processor::{self, Pad, Sequence},
    tokenizer::PaliGemmaTokenizer,
    train::{AdamW, TrainOptions},
};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use lmmrotate_abi::{
    abi_stable::std_types::ROption, CommBox, ErrorKind, GenBatch, GenOptions, Generation, HostBox, ImageSpec, ModelInfo,
    ModelPlugin, PluginError, Resample, StepControl, TrainBatch, TrainStats,
};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

pub struct PaliGemmaPlugin {
    cfg: PluginConfig,
    model: PaliGemma,
    /// The model's weights (frozen constants of the model with LoRA).
    vars: VarMap,
    /// The LoRA adapters, when training with `lora`.
    adapters: Option<VarMap>,
    tokenizer: PaliGemmaTokenizer,
    norm: ImageNorm,
    device: Device,
    dtype: DType,
    optimizer: Option<AdamW>,
    host: HostBox,
}

fn ioerr(path: &Path, e: impl std::fmt::Display) -> PluginError {
    PluginError::new(ErrorKind::IO, format!("{}: {e}", path.display()))
}

fn backend(e: candle_core::Error) -> PluginError {
    PluginError::new(ErrorKind::BACKEND, e.to_string())
}

fn read_json(path: &Path) -> Result<serde_json::Value, PluginError> {
    let text = std::fs::read_to_string(path).map_err(|e| ioerr(path, e))?;
    serde_json::from_str(&text).map_err(|e| PluginError::new(ErrorKind::PARSE, format!("{}: line {}: {e}", path.display(), e.line())))
}

/// The model again with LoRA adapters, on constants that share the variables' storage (no
/// gradient is computed for the base weights, only for the adapters); the adapters come from
/// `saved` (resuming: they must have the configured shape) or from `cfg.seed`.
fn attach_lora(
    arch: &PaliGemmaConfig,
    vars: &VarMap,
    cfg: &lora::LoraConfig,
    saved: Option<(PathBuf, lora::Saved)>,
    dtype: DType,
    device: &Device,
) -> Result<(PaliGemma, VarMap), PluginError> {
    let frozen: HashMap<String, Tensor> =
        vars.data().lock().expect("var map lock").iter().map(|(k, v)| (k.clone(), v.as_tensor().detach())).collect();
    let adapters = VarMap::new();
    let spec = LoraSpec { cfg, vb: VarBuilder::from_varmap(&adapters, dtype, device) };
    let model = PaliGemma::new(arch, VarBuilder::from_tensors(frozen, dtype, device), Some(&spec))
        .map_err(|e| PluginError::new(ErrorKind::BACKEND, format!("building paligemma with LoRA: {e}")))?;
    match saved {
        Some((dir, s)) => {
            let mut want = cfg.target_modules.clone();
            want.sort_by_key(|t| lora::MODULES.iter().position(|m| m == t));
            if (s.cfg.rank, &s.cfg.target_modules) != (cfg.rank, &want) || (s.cfg.scale() - cfg.scale()).abs() > 1e-12 {
                return Err(PluginError::new(
                    ErrorKind::INVALID_CONFIG,
                    format!(
                        "{}: adapters of rank {}, alpha {}, on {:?}; the `lora` option asks for rank {}, alpha {}, on {:?}",
                        dir.join(lora::ADAPTER_CONFIG).display(),
                        s.cfg.rank,
                        s.cfg.alpha.unwrap_or(0.0),
                        s.cfg.target_modules,
                        cfg.rank,
                        cfg.alpha.unwrap_or(cfg.rank as f64),
                        want
                    ),
                ));
            }
            lora::copy_into(&adapters, &s.tensors, &dir)?;
        }
        None => lora::init_adapters(&adapters, cfg.seed).map_err(backend)?,
    }
    Ok((model, adapters))
}

/// candle's version and whether this build and process see CUDA.
pub fn backend_name() -> String {
    let cuda = if candle_core::utils::cuda_is_available() { "cuda" } else { "no cuda" };
    format!("candle 0.11 ({cuda})")
}

/// The image normalisation of a checkpoint folder: `preprocessor_config.json` (hub) or the
/// `image_processor` of `processor_config.json` (transformers 5); SigLIP's 0.5/0.5 otherwise.
fn image_norm(dir: &Path) -> Result<ImageNorm, PluginError> {
    let pre = dir.join("preprocessor_config.json");
    if pre.is_file() {
        return ImageNorm::from_json(&read_json(&pre)?, &pre.display().to_string());
    }
    let proc = dir.join("processor_config.json");
    if proc.is_file() {
        if let Some(ip) = read_json(&proc)?.get("image_processor") {
            return ImageNorm::from_json(ip, &format!("{}: image_processor", proc.display()));
        }
    }
    Ok(ImageNorm::default())
}

impl PaliGemmaPlugin {
    pub fn from_json(config: &str, host: HostBox) -> Result<Self, PluginError> {
        let cfg = PluginConfig::from_json(config)?;
        let device = cfg.device()?;
        let dtype = cfg.dtype.candle();
        let (mut arch, weights, tok_path, norm) = match &cfg.checkpoint {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                let cfg_file = dir.join("config.json");
                let arch = PaliGemmaConfig::from_hf_json(&read_json(&cfg_file)?).map_err(|e| e.context(cfg_file.display().to_string()))?;
                let w = checkpoint::read(&dir)?;
                let tok = cfg.tokenizer.clone().map(PathBuf::from).unwrap_or_else(|| dir.clone());
                let norm = image_norm(&dir)?;
                (arch, Some((dir, w)), tok, norm)
            }
            None => {
                let variant = cfg.variant.as_deref().ok_or_else(|| {
                    PluginError::new(ErrorKind::INVALID_CONFIG, "paligemma: give `checkpoint` (a folder) or `variant` (3b-224, 3b-448, tiny)")
                })?;
                let tok = cfg.tokenizer.clone().ok_or_else(|| {
                    PluginError::new(ErrorKind::INVALID_CONFIG, "paligemma: a `variant` without checkpoint needs `tokenizer`")
                })?;
                (PaliGemmaConfig::preset(variant)?, None, PathBuf::from(tok), ImageNorm::default())
            }
        };
        let tokenizer = PaliGemmaTokenizer::load(&tok_path)?;
        if weights.is_none() {
            arch.text.vocab_size = tokenizer.vocab_size();
            if let Some(id) = tokenizer.token_id("<image>") {
                arch.image_token_id = id;
            }
        }
        for (tok, id, key) in [
            ("<image>", arch.image_token_id, "image_token_index"),
            ("<bos>", arch.bos_token_id, "bos_token_id"),
            ("<eos>", arch.eos_token_id, "eos_token_id"),
        ] {
            if tokenizer.token_id(tok) != Some(id) {
                return Err(PluginError::new(
                    ErrorKind::INVALID_CONFIG,
                    format!("{}: `{tok}` has id {:?}, config.json `{key}` says {id}", tok_path.display(), tokenizer.token_id(tok)),
                ));
            }
        }
        if tokenizer.vocab_size() > arch.text.vocab_size.max(arch.image_token_id as usize + 1) {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("tokenizer has {} tokens, the model's vocabulary {}", tokenizer.vocab_size(), arch.text.vocab_size),
            ));
        }
        if let Some(size) = cfg.image_size {
            if size as usize != arch.vision.image_size {
                return Err(PluginError::new(
                    ErrorKind::INVALID_CONFIG,
                    format!("paligemma config: image_size {size} differs from the vision tower's {} (its position table is fixed)", arch.vision.image_size),
                ));
            }
        }
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, dtype, &device);
        let building = |e: candle_core::Error| PluginError::new(ErrorKind::BACKEND, format!("building paligemma: {e}"));
        let mut model = PaliGemma::new(&arch, vb, None).map_err(building)?;
        let saved = match &weights {
            Some((dir, w)) => {
                checkpoint::copy_into(&vars, w, dir)?;
                lora::read(dir)?.map(|s| (dir.clone(), s))
            }
            None => {
                checkpoint::init_random(&vars, cfg.seed)?;
                None
            }
        };
        let adapters = match (&cfg.lora, saved) {
            (Some(l), saved) => {
                let (m, adapters) = attach_lora(&arch, &vars, l, saved, dtype, &device)?;
                model = m;
                Some(adapters)
            }
            (None, Some((dir, s))) => {
                let n = lora::merge_into(&vars, &s, &dir)?;
                host.info(format!("{}: merged LoRA adapters (rank {}) into {n} layers", dir.display(), s.cfg.rank));
                None
            }
            (None, None) => None,
        };
        let plugin = Self { cfg, model, vars, adapters, tokenizer, norm, device, dtype, optimizer: None, host };
        plugin.host.info(format!("paligemma on {:?}, {} parameters, {:?}", plugin.device, plugin.parameters(), plugin.dtype));
        Ok(plugin)
    }

    /// The variables that train: the adapters with LoRA, else every weight.
    fn trained(&self) -> &VarMap {
        self.adapters.as_ref().unwrap_or(&self.vars)
    }

    fn parameters(&self) -> u64 {
        let count = |m: &VarMap| m.all_vars().iter().map(|v| v.elem_count() as u64).sum::<u64>();
        count(&self.vars) + self.adapters.as_ref().map_or(0, count)
    }

    /// The model's weights (without adapters), as the checkpoint has them.
    pub fn weights(&self) -> &VarMap {
        &self.vars
    }

    fn image_size(&self) -> u32 {
        self.model.cfg.vision.image_size as u32
    }

    /// The prefix of each prompt: `<image>`×N `<bos>` prompt `\n`.
    fn prompt_ids(&self, prompts: &[&str]) -> Result<Vec<Vec<u32>>, PluginError> {
        self.tokenizer.encode_batch(prompts.iter().map(|p| format!("{p}\n")).collect())
    }

    fn sequence(&self, prompt_ids: &[u32], suffix: Vec<u32>) -> Sequence {
        let c = &self.model.cfg;
        Sequence::new(c.image_token_id, c.image_tokens(), c.bos_token_id, prompt_ids, suffix)
    }

    /// The underlying network (parity tests).
    pub fn model(&self) -> &PaliGemma {
        &self.model
    }

    pub fn tokenizer(&self) -> &PaliGemmaTokenizer {
        &self.tokenizer
    }

    pub fn image_norm(&self) -> &ImageNorm {
        &self.norm
    }

    /// The token sequences of a training batch, as `PaliGemmaProcessor(text, suffix=…)` builds them.
    pub fn train_rows(&self, prompts: &[&str], targets: &[&str]) -> Result<(processor::Rows, u32), PluginError> {
        let c = &self.model.cfg;
        let prompt_ids = self.prompt_ids(prompts)?;
        let target_ids = self.tokenizer.encode_batch(targets.iter().map(|t| t.to_string()).collect())?;
        let mut truncated = 0;
        let mut seqs = Vec::with_capacity(prompts.len());
        for (p, t) in prompt_ids.iter().zip(&target_ids) {
            let (s, cut) = processor::suffix(t, c.eos_token_id, self.cfg.max_text_len as usize);
            truncated += cut as u32;
            seqs.push(self.sequence(p, s));
        }
        Ok((processor::batch(&seqs, c.pad_token_id, Pad::Right), truncated))
    }

    /// The token sequences of a generation batch (left padded).
    pub fn gen_rows(&self, prompts: &[&str]) -> Result<processor::Rows, PluginError> {
        let seqs: Vec<Sequence> = self.prompt_ids(prompts)?.iter().map(|p| self.sequence(p, Vec::new())).collect();
        Ok(processor::batch(&seqs, self.model.cfg.pad_token_id, Pad::Left))
    }
}

impl ModelPlugin for PaliGemmaPlugin {
    fn info(&self) -> Result<ModelInfo, PluginError> {
        let s = self.image_size();
        Ok(ModelInfo {
            name: "paligemma".into(),
            backend: backend_name().into(),
            device: match &self.device {
                Device::Cpu => "cpu".to_string(),
                d => format!("{d:?}").to_lowercase(),
            }
            .into(),
            // PaliGemma's processor resizes with PIL bicubic.
            image: ImageSpec { width: s, height: s, resample: Resample::Bicubic },
            max_text_len: self.cfg.max_text_len,
            formats: self.cfg.formats.iter().map(|s| s.as_str().into()).collect(),
            parameters: self.parameters(),
        })
    }

    fn set_training(&mut self, _training: bool) -> Result<(), PluginError> {
        // PaliGemma has no dropout (attention_dropout 0): both modes compute the same.
        Ok(())
    }

    fn configure_training(&mut self, options_json: &str) -> Result<(), PluginError> {
        let opts = TrainOptions::from_json(options_json)?;
        if self.adapters.is_some() && !opts.freeze.is_empty() {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("paligemma: freezing {:?} with `lora` (the base weights are frozen already; only adapters train)", opts.freeze),
            ));
        }
        let opt = AdamW::new(self.trained(), opts)?;
        self.host.info(format!("training {} parameters", opt.trainable()));
        self.optimizer = Some(opt);
        Ok(())
    }

    fn train_step(&mut self, batch: &TrainBatch, control: StepControl) -> Result<TrainStats, PluginError> {
        if self.optimizer.is_none() {
            self.configure_training("{}")?;
        }
        let n = batch.images.len();
        if batch.prompts.len() != n || batch.targets.len() != n {
            return Err(PluginError::new(ErrorKind::INVALID_CONFIG, "train batch: images, prompts and targets differ in length"));
        }
        let prompts: Vec<&str> = batch.prompts.iter().map(|s| s.as_str()).collect();
        let targets: Vec<&str> = batch.targets.iter().map(|s| s.as_str()).collect();
        let (rows, truncated) = self.train_rows(&prompts, &targets)?;
        let pixels = processor::pixels(batch.images.as_slice(), self.image_size(), &self.norm, &self.device, self.dtype)?;
        let (loss, tokens) = self.model.suffix_loss(&pixels, &rows).map_err(backend)?;
        let loss_value = loss.to_scalar::<f32>().map_err(backend)? as f64;
        if !loss_value.is_finite() {
            return Err(PluginError::new(ErrorKind::BACKEND, format!("non-finite loss ({loss_value}); nothing was updated")));
        }
        let grads = (loss * control.loss_weight as f64).and_then(|l| l.backward()).map_err(backend)?;
        let opt = self.optimizer.as_mut().expect("configured above");
        opt.accumulate(&grads)?;
        let grad_norm = if control.apply_update { ROption::RSome(opt.apply(control.lr)?) } else { ROption::RNone };
        Ok(TrainStats { loss: loss_value, target_tokens: tokens as u64, truncated, grad_norm, skipped: false })
    }

    fn generate(&mut self, batch: &GenBatch, options: &GenOptions) -> Result<Vec<Generation>, PluginError> {
        let extra = options.extra_json.as_str().trim();
        if !(extra.is_empty() || extra == "{}") {
            return Err(PluginError::new(ErrorKind::INVALID_CONFIG, format!("paligemma generation options: no model-specific keys are known ({extra})")));
        }
        if batch.prompts.len() != batch.images.len() {
            return Err(PluginError::new(ErrorKind::INVALID_CONFIG, "generate batch: images and prompts differ in length"));
        }
        let max_new = if options.max_new_tokens == 0 { self.cfg.max_text_len } else { options.max_new_tokens } as usize;
        let prompts: Vec<&str> = batch.prompts.iter().map(|s| s.as_str()).collect();
        let rows = self.gen_rows(&prompts)?;
        let pixels = processor::pixels(batch.images.as_slice(), self.image_size(), &self.norm, &self.device, self.dtype)?;
        let opts = GenerateOptions {
            num_beams: options.num_beams.max(1) as usize,
            max_new_tokens: max_new,
            no_repeat_ngram_size: options.no_repeat_ngram_size as usize,
            length_penalty: options.length_penalty as f64,
            early_stopping: options.early_stopping,
            eos_token_id: self.model.cfg.eos_token_id,
        };
        let ids = generate(&self.model, &pixels, &rows, &opts).map_err(backend)?;
        ids.into_iter()
            .map(|ids| {
                let text = self.tokenizer.decode(&ids)?;
                Ok(Generation { ids: ids.into(), text: text.into() })
            })
            .collect()
    }

    fn count_tokens(&self, text: &str) -> Result<u32, PluginError> {
        // As in training: the target's tokens and `<eos>`.
        Ok(self.tokenizer.encode(text)?.len() as u32 + 1)
    }

    fn save(&mut self, dir: &str) -> Result<(), PluginError> {
        let dir = Path::new(dir);
        std::fs::create_dir_all(dir).map_err(|e| ioerr(dir, e))?;
        checkpoint::save(&self.vars, dir, self.dtype)?;
        if let (Some(adapters), Some(l)) = (&self.adapters, &self.cfg.lora) {
            lora::save(adapters, l, self.cfg.checkpoint.as_deref(), dir)?;
        }
        let write = |name: &str, v: serde_json::Value| {
            let path = dir.join(name);
            std::fs::write(&path, serde_json::to_string_pretty(&v).expect("json")).map_err(|e| ioerr(&path, e))
        };
        write("config.json", self.model.cfg.to_hf_json())?;
        let s = self.image_size();
        write(
            "preprocessor_config.json",
            serde_json::json!({
                "image_processor_type": "SiglipImageProcessor", "processor_class": "PaliGemmaProcessor",
                "do_resize": true, "size": {"height": s, "width": s}, "resample": 3,
                "do_rescale": true, "rescale_factor": 1.0 / 255.0,
                "do_normalize": true, "image_mean": self.norm.mean, "image_std": self.norm.std,
                "image_seq_length": self.model.cfg.image_tokens(),
            }),
        )?;
        self.tokenizer.save(dir)?;
        if let Some(opt) = &self.optimizer {
            opt.save(dir)?;
        }
        Ok(())
    }

    fn load_training_state(&mut self, dir: &str) -> Result<(), PluginError> {
        if self.optimizer.is_none() {
            self.configure_training("{}")?;
        }
        self.optimizer.as_mut().expect("configured above").load(Path::new(dir))
    }

    fn set_communicator(&mut self, comm: CommBox) -> Result<(), PluginError> {
        if self.optimizer.is_none() {
            self.configure_training("{}")?;
        }
        if comm.world_size() > 1 {
            self.host.info(format!("data-parallel rank {} of {} on {:?}", comm.rank(), comm.world_size(), self.device));
        }
        // With LoRA only the adapters are broadcast: the frozen base is the same checkpoint (or
        // seeded initialisation) on every rank.
        let trained = self.adapters.as_ref().unwrap_or(&self.vars);
        self.optimizer.as_mut().expect("configured above").join(comm, trained)
    }
}
