//! The `florence2` model entry: loads a checkpoint folder (or initialises a preset), and serves
//! the ABI's generate / train_step / save through the network, tokenizer and optimizer.

use crate::{
    checkpoint,
    config::{Florence2Config, PluginConfig},
    generate::{generate, GenerateOptions},
    model::Florence2,
    processor,
    tokenizer::{expand_prompt, FlorenceTokenizer},
    train::{AdamW, TrainOptions},
};
use lmmrotate_abi::{
    abi_stable::std_types::ROption, CommBox, ErrorKind, GenBatch, GenOptions, Generation, HostBox, ImageSpec, ModelInfo,
    ModelPlugin, PluginError, Resample, StepControl, TrainBatch, TrainStats,
};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

pub struct Florence2Plugin {
    cfg: PluginConfig,
    model: Florence2,
    vs: nn::VarStore,
    tokenizer: FlorenceTokenizer,
    device: Device,
    training: bool,
    optimizer: Option<AdamW>,
    /// Micro-batches since the last update (with the update count, it seeds the step's dropout).
    micro: u64,
    frozen_position_rows: Option<i64>,
    host: HostBox,
}

fn ioerr(path: &Path, e: impl std::fmt::Display) -> PluginError {
    PluginError::new(ErrorKind::IO, format!("{}: {e}", path.display()))
}

/// `tch` version and the libtorch/CUDA this process sees.
pub fn backend() -> String {
    let cuda = if tch::Cuda::is_available() { format!("cuda x{}", tch::Cuda::device_count()) } else { "no cuda".into() };
    format!("tch 0.24.0 / libtorch 2.11.0 ({cuda})")
}

impl Florence2Plugin {
    pub fn from_json(config: &str, host: HostBox) -> Result<Self, PluginError> {
        let cfg = PluginConfig::from_json(config)?;
        let device = cfg.device()?;
        // Random initialisation draws from the global generator too (see `RNG`).
        let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
        tch::manual_seed(cfg.seed as i64);
        let (mut arch, weights, tok_dir) = match &cfg.checkpoint {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                let cfg_file = dir.join("config.json");
                let text = std::fs::read_to_string(&cfg_file).map_err(|e| ioerr(&cfg_file, e))?;
                let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    PluginError::new(ErrorKind::PARSE, format!("{}: line {}: {e}", cfg_file.display(), e.line()))
                })?;
                let mut arch = Florence2Config::from_hf_json(&json).map_err(|e| e.context(cfg_file.display().to_string()))?;
                let gen_file = dir.join("generation_config.json");
                if let Ok(text) = std::fs::read_to_string(&gen_file) {
                    let g: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                        PluginError::new(ErrorKind::PARSE, format!("{}: line {}: {e}", gen_file.display(), e.line()))
                    })?;
                    arch.apply_generation_config(&g);
                }
                let w = checkpoint::read(&dir)?;
                (arch, Some((dir.clone(), w)), cfg.tokenizer.clone().map(PathBuf::from).unwrap_or(dir))
            }
            None => {
                let variant = cfg.variant.as_deref().ok_or_else(|| {
                    PluginError::new(ErrorKind::INVALID_CONFIG, "florence2: give `checkpoint` (a folder) or `variant` (base, large, tiny)")
                })?;
                let tok = cfg.tokenizer.clone().ok_or_else(|| {
                    PluginError::new(ErrorKind::INVALID_CONFIG, "florence2: a `variant` without checkpoint needs `tokenizer`")
                })?;
                (Florence2Config::preset(variant)?, None, PathBuf::from(tok))
            }
        };
        let tokenizer = FlorenceTokenizer::load(&tok_dir)?;
        if weights.is_none() {
            arch.text.vocab_size = tokenizer.vocab_size() as i64;
        }
        if (tokenizer.vocab_size() as i64) > arch.text.vocab_size {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("tokenizer has {} tokens, the model's vocabulary {}", tokenizer.vocab_size(), arch.text.vocab_size),
            ));
        }
        let loaded_positions = arch.text.max_position_embeddings;
        if let Some(len) = cfg.max_text_len {
            // A checkpoint's tables can only grow (LMMRotate's extension); a fresh model takes it as is.
            arch.text.max_position_embeddings =
                if weights.is_some() { arch.text.max_position_embeddings.max(len as i64) } else { len as i64 };
        }
        let mut vs = nn::VarStore::new(device);
        let tied = weights.as_ref().is_none_or(|(_, w)| checkpoint::head_is_tied(w));
        let model = Florence2::new(&vs.root(), &arch, tied);
        let mut frozen_position_rows = None;
        if let Some((dir, w)) = &weights {
            let report = checkpoint::copy_into(&vs, w, dir)?;
            frozen_position_rows = report.position_rows_loaded;
            if frozen_position_rows.is_some() {
                host.info(format!(
                    "extended text positions from {loaded_positions} to {} (new rows N(0, 0.02²); old rows frozen in training)",
                    arch.text.max_position_embeddings
                ));
            }
        }
        if cfg.dtype.kind() != Kind::Float {
            vs.set_kind(cfg.dtype.kind());
        }
        host.info(format!("florence2 on {device:?}, {} parameters, {:?}", count(&vs), cfg.dtype));
        Ok(Self { cfg, model, vs, tokenizer, device, training: false, optimizer: None, micro: 0, frozen_position_rows, host })
    }

    fn max_text_len(&self) -> i64 {
        self.model.cfg.text.max_position_embeddings
    }

    fn prompt_ids(&self, prompts: &[impl AsRef<str>]) -> Result<Tensor, PluginError> {
        let mut rows = Vec::with_capacity(prompts.len());
        for p in prompts {
            let text = expand_prompt(p.as_ref())?;
            rows.push(self.tokenizer.encode(&text, true)?.into_iter().map(i64::from).collect::<Vec<_>>());
        }
        Ok(processor::pad(&rows, self.model.cfg.text.pad_token_id, self.device))
    }

    fn kind(&self) -> Kind {
        self.cfg.dtype.kind()
    }
}

/// Wall time of the phases of a step, with the device synchronised at each mark (profiling only).
struct Phases {
    on: bool,
    device: Device,
    last: std::time::Instant,
    times: Vec<(&'static str, f64)>,
}

impl Phases {
    fn new(on: bool, device: Device) -> Self {
        Self { on, device, last: std::time::Instant::now(), times: Vec::new() }
    }
    fn mark(&mut self, name: &'static str) {
        if self.on {
            if let Device::Cuda(i) = self.device {
                tch::Cuda::synchronize(i as i64);
            }
            let now = std::time::Instant::now();
            self.times.push((name, (now - self.last).as_secs_f64() * 1e3));
            self.last = now;
        }
    }
    fn report(&self) -> Option<String> {
        self.on.then(|| {
            let parts: Vec<String> = self.times.iter().map(|(n, ms)| format!("{n} {ms:.1} ms")).collect();
            format!("step: {}", parts.join(", "))
        })
    }
}

/// Serialises the uses of libtorch's global random generator by the models of this process.
pub(crate) static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A well-mixed 63-bit seed from the run's seed and the position in the run (splitmix64).
fn step_seed(seed: u64, update: u64, micro: u64, rank: u32) -> u64 {
    let mut z = seed ^ update.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ micro.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ ((rank as u64) << 48);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 1
}

fn count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum::<i64>()
        + vs.variables().values().filter(|t| !t.requires_grad()).map(|t| t.numel() as i64).sum::<i64>()
}

impl ModelPlugin for Florence2Plugin {
    fn info(&self) -> Result<ModelInfo, PluginError> {
        Ok(ModelInfo {
            name: "florence2".into(),
            backend: backend().into(),
            device: format!("{:?}", self.device).to_lowercase().into(),
            image: ImageSpec { width: self.cfg.image_size, height: self.cfg.image_size, resample: Resample::Bicubic },
            max_text_len: self.max_text_len() as u32,
            formats: self.cfg.formats.iter().map(|s| s.as_str().into()).collect(),
            parameters: count(&self.vs) as u64,
        })
    }

    fn set_training(&mut self, training: bool) -> Result<(), PluginError> {
        self.training = training;
        Ok(())
    }

    fn configure_training(&mut self, options_json: &str) -> Result<(), PluginError> {
        let opts = TrainOptions::from_json(options_json)?;
        if !opts.master_weights && self.kind() == Kind::Half {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                "florence2 training options: `master_weights: false` is for bf16; fp16 needs fp32 master weights (loss scaling)",
            ));
        }
        self.model.set_recompute(opts.gradient_checkpointing);
        let opt = AdamW::new(&self.vs, opts, self.frozen_position_rows);
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
        let mut phases = Phases::new(self.cfg.profile, self.device);
        let t = &self.model.cfg.text;
        let (mut inputs, mut labels, mut truncated) = (Vec::new(), Vec::new(), 0u32);
        // Long targets (1,000+ tokens) cost milliseconds each: tokenise the batch in parallel.
        let texts: Vec<String> = batch.targets.iter().map(|t| format!("<s>{t}")).collect();
        for ids in self.tokenizer.encode_batch(texts, false)? {
            let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
            let (i, l, cut) =
                processor::targets(&ids, self.max_text_len() as usize, t.bos_token_id, t.eos_token_id, t.decoder_start_token_id);
            inputs.push(i);
            labels.push(l);
            truncated += cut as u32;
        }
        let dec = processor::pad(&inputs, t.pad_token_id, self.device);
        let lab = processor::pad(&labels, -100, self.device);
        let pixels = processor::pixels(batch.images.as_slice(), self.cfg.image_size, self.device, self.kind())?;
        let prompts: Vec<&str> = batch.prompts.iter().map(|s| s.as_str()).collect();
        let prompt_ids = self.prompt_ids(&prompts)?;
        phases.mark("inputs");
        // Dropout draws from libtorch's global generator, seeded here by (seed, update,
        // micro-batch, rank) so that a resumed run draws what the uninterrupted run drew; the
        // lock keeps other models of this process from drawing in between, through the backward
        // pass, where gradient checkpointing replays the forward pass's draws.
        let rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
        if self.training {
            let opt = self.optimizer.as_ref().expect("configured above");
            tch::manual_seed(step_seed(self.cfg.seed, opt.step as u64, self.micro, opt.rank()) as i64);
        }
        let logits = self.model.forward(&pixels, &prompt_ids, &dec, self.training);
        let v = logits.size()[2];
        let loss = logits.reshape([-1, v]).cross_entropy_loss::<Tensor>(&lab.reshape([-1]), None, tch::Reduction::Mean, -100, 0.0);
        phases.mark("forward");
        let scale = self.optimizer.as_ref().map_or(1.0, |o| o.loss_scale());
        (&loss * (control.loss_weight as f64 * scale)).backward();
        drop(rng);
        // The loss is read only now: reading it before the backward pass made the host wait for
        // the forward pass and the device then wait for the backward launches (a bubble on GPUs).
        let loss_value = loss.double_value(&[]);
        if !loss_value.is_finite() {
            if let Some(opt) = self.optimizer.as_mut() {
                opt.zero_grad();
            }
            self.micro = 0;
            return Err(PluginError::new(ErrorKind::BACKEND, format!("non-finite loss ({loss_value}); nothing was updated")));
        }
        phases.mark("backward");
        let target_tokens = labels.iter().map(|l| l.len() as u64).sum();
        let mut grad_norm = ROption::RNone;
        let mut skipped = false;
        if control.apply_update {
            let opt = self.optimizer.as_mut().expect("configured above");
            opt.reduce_gradients()?;
            phases.mark("gradients");
            match opt.apply(control.lr)? {
                Some(norm) => grad_norm = ROption::RSome(norm),
                None => {
                    skipped = true;
                    self.host.warn(format!("fp16 gradients overflowed: update skipped, loss scale now {}", opt.loss_scale()));
                }
            }
            opt.zero_grad();
            self.micro = 0;
        } else {
            self.micro += 1;
        }
        phases.mark("optimizer");
        if let Some(line) = phases.report() {
            self.host.info(line);
        }
        Ok(TrainStats { loss: loss_value, target_tokens, truncated, grad_norm, skipped })
    }

    fn generate(&mut self, batch: &GenBatch, options: &GenOptions) -> Result<Vec<Generation>, PluginError> {
        let t = &self.model.cfg.text;
        let max_new = if options.max_new_tokens == 0 { self.max_text_len() - 1 } else { options.max_new_tokens as i64 };
        #[derive(serde::Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct Extra {
            /// Generate at least this many tokens (benchmarks of a fixed length).
            #[serde(default)]
            min_new_tokens: i64,
        }
        let extra: Extra = serde_json::from_str(options.extra_json.as_str())
            .map_err(|e| PluginError::new(ErrorKind::INVALID_CONFIG, format!("florence2 generation options: {e}")))?;
        let opts = GenerateOptions {
            num_beams: options.num_beams.max(1) as i64,
            max_length: (max_new + 1).min(self.max_text_len()),
            no_repeat_ngram_size: options.no_repeat_ngram_size as i64,
            length_penalty: options.length_penalty as f64,
            early_stopping: options.early_stopping,
            decoder_start_token_id: t.decoder_start_token_id,
            forced_bos_token_id: t.forced_bos_token_id,
            forced_eos_token_id: t.forced_eos_token_id,
            eos_token_id: t.eos_token_id,
            pad_token_id: t.pad_token_id,
            min_length: if extra.min_new_tokens > 0 { extra.min_new_tokens + 1 } else { 0 },
        };
        let pixels = processor::pixels(batch.images.as_slice(), self.cfg.image_size, self.device, self.kind())?;
        let prompts: Vec<&str> = batch.prompts.iter().map(|s| s.as_str()).collect();
        let prompt_ids = self.prompt_ids(&prompts)?;
        let ids = tch::no_grad(|| generate(&self.model, &pixels, &prompt_ids, &opts));
        ids.into_iter()
            .map(|row| {
                let ids: Vec<u32> = row.iter().map(|&i| i as u32).collect();
                let text = self.tokenizer.decode(&ids)?;
                Ok(Generation { ids: ids.into(), text: text.into() })
            })
            .collect()
    }

    fn count_tokens(&self, text: &str) -> Result<u32, PluginError> {
        // As in training: `<s>` + response with `<s>` … `</s>` around it.
        Ok(self.tokenizer.encode(&format!("<s>{text}"), false)?.len() as u32 + 2)
    }

    fn save(&mut self, dir: &str) -> Result<(), PluginError> {
        let dir = Path::new(dir);
        std::fs::create_dir_all(dir).map_err(|e| ioerr(dir, e))?;
        checkpoint::save(&self.vs, dir, self.cfg.save_layout)?;
        let cfg = match self.cfg.save_layout {
            checkpoint::Layout::Original => self.model.cfg.to_hf_json(),
            checkpoint::Layout::Native => self.model.cfg.to_native_json(),
        };
        let cfg_json = serde_json::to_string_pretty(&cfg).expect("json");
        std::fs::write(dir.join("config.json"), cfg_json).map_err(|e| ioerr(&dir.join("config.json"), e))?;
        let gen_json = serde_json::to_string_pretty(&self.model.cfg.generation_json()).expect("json");
        std::fs::write(dir.join("generation_config.json"), gen_json).map_err(|e| ioerr(&dir.join("generation_config.json"), e))?;
        self.tokenizer.save(dir)?;
        let size = self.cfg.image_size;
        let pre = serde_json::json!({
            "do_resize": true, "size": {"height": size, "width": size}, "resample": 3,
            "do_center_crop": false, "crop_size": {"height": size, "width": size},
            "do_rescale": true, "rescale_factor": 1.0 / 255.0,
            "do_normalize": true, "image_mean": processor::MEAN, "image_std": processor::STD,
            "image_seq_length": (size / 32) * (size / 32) + 1, "processor_class": "Florence2Processor",
        });
        std::fs::write(dir.join("preprocessor_config.json"), serde_json::to_string_pretty(&pre).expect("json"))
            .map_err(|e| ioerr(&dir.join("preprocessor_config.json"), e))?;
        if let Some(opt) = &self.optimizer {
            opt.save(dir)?;
        }
        Ok(())
    }

    fn load_training_state(&mut self, dir: &str) -> Result<(), PluginError> {
        if self.optimizer.is_none() {
            self.configure_training("{}")?;
        }
        self.optimizer.as_mut().expect("configured").load(Path::new(dir))
    }

    fn set_communicator(&mut self, comm: CommBox) -> Result<(), PluginError> {
        if self.optimizer.is_none() {
            self.configure_training("{}")?;
        }
        if comm.world_size() > 1 {
            self.host.info(format!("data-parallel rank {} of {} on {:?}", comm.rank(), comm.world_size(), self.device));
        }
        self.optimizer.as_mut().expect("configured").join(comm, &self.vs)
    }
}
