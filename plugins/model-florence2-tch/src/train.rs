//! Training: AdamW written on tensors (so that its state can be saved and restored with the
//! checkpoint), freezing by parameter groups, LMMRotate's frozen old position rows, gradient
//! clipping, and the state files.

use crate::shim;
use lmmrotate_abi::{Buffer, CommBox, DType, ErrorKind, PluginError};
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
    /// Recompute each block's activations in the backward pass instead of keeping them
    /// (crate::recompute): less memory, one more forward pass.
    #[serde(default)]
    pub gradient_checkpointing: bool,
    /// bf16 variables: keep fp32 master weights and moments (true, the default: LMMRotate's
    /// mixed precision under DeepSpeed, 18 bytes per parameter with the gradients), or update
    /// the bf16 variables in place with bf16 moments (false: a bf16 model under torch's AdamW,
    /// 8 bytes per parameter; updates smaller than half a bf16 step are lost). fp16 always keeps
    /// them; fp32 variables are their own master.
    #[serde(default = "default_true")]
    pub master_weights: bool,
}

fn default_true() -> bool {
    true
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

/// Elements per piece of an update of bf16/fp16 variables (64 Mi: a 256 MB fp32 copy).
const PIECE: i64 = 1 << 26;

/// AdamW over flat buffers: every trained variable becomes a view into one flat tensor of its
/// dtype, with fp32 master weights and moments beside it, so that an update is a handful of
/// kernels whatever the number of variables (the per-variable loop cost ~45 ms per step at
/// micro size on an H100, scripts/gpu/profile_train.sh). With bf16/fp16 variables the update
/// runs on the fp32 master copy and is then copied into the variables.
pub struct AdamW {
    names: Vec<String>,
    params: Vec<Tensor>,
    /// (offset, numel) of each variable in the flat buffers.
    spans: Vec<(i64, i64)>,
    /// The variables' storage (their dtype).
    flat: Tensor,
    /// The variables' gradients (their dtype): each variable's `.grad` is a view of it, so that
    /// autograd accumulates there in place and an update reads one tensor.
    grad: Tensor,
    /// fp32 master weights; the same tensor as `flat` for fp32 variables and for bf16 ones
    /// without master weights (`TrainOptions::master_weights`).
    master: Tensor,
    m: Tensor,
    v: Tensor,
    pub step: i64,
    pub opts: TrainOptions,
    /// Ranges of the flat buffer whose gradient is zeroed (old position-table rows).
    frozen: Vec<(i64, i64)>,
    /// Dynamic loss scaling, for fp16 variables.
    pub scaler: Option<LossScaler>,
    /// The data-parallel group, when training on several ranks.
    comm: Option<CommBox>,
    /// The step count as the fused kernel reads it (an fp32 scalar on the device).
    step_count: Tensor,
    /// Elements per piece of the update of non-fp32 variables ([`PIECE`]; smaller in tests).
    piece: i64,
}

/// fp16 dynamic loss scaling as DeepSpeed's / torch's GradScaler: the loss is multiplied by
/// `scale` before the backward pass; an update whose gradients are not finite is skipped and the
/// scale halved; after `growth_interval` good updates it doubles. Starts at 2^16 (DeepSpeed's
/// `initial_scale_power 16` in LMMRotate's zero2.json).
#[derive(Debug, Clone, PartialEq)]
pub struct LossScaler {
    pub scale: f64,
    pub good_steps: u64,
    pub growth_interval: u64,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self { scale: 65536.0, good_steps: 0, growth_interval: 1000 }
    }
}

impl AdamW {
    pub fn new(vs: &nn::VarStore, opts: TrainOptions, frozen_position_rows: Option<i64>) -> Self {
        let mut all: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in &all {
            let frozen = opts.freeze.iter().any(|f| part_prefixes(f).unwrap_or(&[]).iter().any(|p| name.starts_with(p)));
            // Buffers (temporal table, logits bias) never train.
            let buffer = name == "visual_temporal_embed.pos_idx_to_embed" || name == "language_model.final_logits_bias";
            let _ = t.shallow_clone().set_requires_grad(!frozen && !buffer);
        }
        all.retain(|(_, t)| t.requires_grad());
        let (names, params): (Vec<String>, Vec<Tensor>) = all.into_iter().unzip();
        let mut spans = Vec::with_capacity(params.len());
        let mut off = 0;
        for p in &params {
            let n = p.numel() as i64;
            spans.push((off, n));
            off += n;
        }
        let (device, kind) = params.first().map_or((tch::Device::Cpu, Kind::Float), |p| (p.device(), p.kind()));
        let flat = tch::no_grad(|| {
            if params.is_empty() {
                Tensor::zeros([0], (kind, device))
            } else {
                Tensor::cat(&params.iter().map(|p| p.detach().reshape([-1])).collect::<Vec<_>>(), 0)
            }
        });
        // The variables now live in `flat` (same autograd identity, new storage) and their
        // gradients in `grad`.
        let grad = Tensor::zeros([off], (kind, device));
        for (p, &(o, n)) in params.iter().zip(&spans) {
            let mut p = p.shallow_clone();
            p.set_data(&flat.narrow(0, o, n).view(p.size().as_slice()));
            set_grad(&p, &grad.narrow(0, o, n).view(p.size().as_slice())).expect("a view of the variable's shape, dtype and device");
        }
        // Updated in place: fp32 variables, and bf16 ones without master weights.
        let in_place = kind == Kind::Float || (kind == Kind::BFloat16 && !opts.master_weights);
        let master = if in_place { flat.shallow_clone() } else { flat.to_kind(Kind::Float) };
        let mut frozen = Vec::new();
        if let Some(rows) = frozen_position_rows {
            for ((name, p), &(o, _)) in names.iter().zip(&params).zip(&spans) {
                if name.ends_with("embed_positions.weight") {
                    frozen.push((o, rows * p.size()[1]));
                }
            }
        }
        let m = Tensor::zeros_like(&master);
        let v = Tensor::zeros_like(&master);
        let scaler = (kind == Kind::Half).then(LossScaler::default);
        let step_count = Tensor::zeros([], (Kind::Float, device));
        Self { names, params, spans, flat, grad, master, m, v, step: 0, opts, frozen, scaler, comm: None, step_count, piece: PIECE }
    }

    /// Whether the update runs on a separate fp32 copy of the variables.
    fn has_master(&self) -> bool {
        self.master.kind() != self.flat.kind()
    }

    /// The variables take the master weights' values (rounded), where those are a separate copy.
    fn copy_master_to_variables(&mut self) {
        if self.has_master() {
            self.flat.copy_(&self.master);
        }
    }

    /// This process's rank in the data-parallel group (0 when alone).
    pub fn rank(&self) -> u32 {
        self.comm.as_ref().map_or(0, |c| c.rank())
    }

    /// Number of trained parameters.
    pub fn trainable(&self) -> i64 {
        self.master.numel() as i64
    }

    /// The gradient of elements `o .. o + n` as the update uses it, in the master weights' dtype:
    /// unscaled (fp16 loss scaling) and zero on frozen rows. A view of the gradient buffer when
    /// the dtypes agree (the buffer is modified); otherwise an fp32 copy of the piece.
    fn prepared_piece(&self, o: i64, n: i64) -> Tensor {
        let mut g = self.grad.narrow(0, o, n).to_kind(self.master.kind());
        if let Some(s) = &self.scaler {
            g /= s.scale; // fp16: `g` is an fp32 copy
        }
        for &(fo, fl) in &self.frozen {
            let (start, end) = (fo.max(o), (fo + fl).min(o + n));
            if start < end {
                let _ = g.narrow(0, start - o, end - start).zero_();
            }
        }
        g
    }

    /// The pieces the update works through: the whole buffer for fp32 variables; for others,
    /// spans of [`PIECE`] elements, so that their fp32 copy is the update's only transient.
    fn pieces(&self) -> Vec<(i64, i64)> {
        let total = self.grad.numel() as i64;
        let step = if self.grad.kind() == Kind::Float { total.max(1) } else { self.piece };
        (0..total).step_by(step as usize).map(|o| (o, step.min(total - o))).collect()
    }

    /// The gradients as one fp32 vector (tests).
    #[cfg(test)]
    fn flat_grad(&self) -> Tensor {
        self.grad.to_kind(Kind::Float)
    }

    /// Joins a data-parallel group: every variable of `vs` (trained or not), the master weights
    /// and the moments become rank 0's, so that all ranks start from the same state; from then on
    /// each update averages the gradients over the ranks first (one fp32 all-reduce of the flat
    /// gradient, after the last micro-batch of an accumulation).
    pub fn join(&mut self, comm: CommBox, vs: &nn::VarStore) -> Result<(), PluginError> {
        if comm.world_size() > 1 {
            let mut all: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            tch::no_grad(|| -> Result<(), PluginError> {
                for (name, t) in &all {
                    broadcast(&comm, t).map_err(|e| e.context(format!("broadcasting `{name}` from rank 0")))?;
                }
                for t in [&self.master, &self.m, &self.v] {
                    broadcast(&comm, t).map_err(|e| e.context("broadcasting optimizer state from rank 0"))?;
                }
                self.copy_master_to_variables();
                Ok(())
            })?;
        }
        self.comm = Some(comm);
        Ok(())
    }

    /// The factor the loss is multiplied by before the backward pass (1 without loss scaling).
    pub fn loss_scale(&self) -> f64 {
        self.scaler.as_ref().map_or(1.0, |s| s.scale)
    }

    /// Averages the gradient buffer over the data-parallel ranks, in place (nothing on one
    /// rank): one fp32 all-reduce of the buffer, or of fp32 copies of its pieces for bf16/fp16
    /// variables, whose averages are then rounded back into the buffer.
    pub fn reduce_gradients(&mut self) -> Result<(), PluginError> {
        let Some(comm) = &self.comm else { return Ok(()) };
        if comm.world_size() == 1 || self.params.is_empty() {
            return Ok(());
        }
        let world = comm.world_size() as f64;
        let what = || format!("averaging gradients at step {}", self.step + 1);
        tch::no_grad(|| {
            for (o, n) in self.pieces() {
                let piece = self.grad.narrow(0, o, n);
                let mut g = piece.to_kind(Kind::Float);
                comm.all_reduce_sum(buffer(&g)?).into_result().map_err(|e| e.context(what()))?;
                g /= world;
                if piece.kind() != Kind::Float {
                    piece.shallow_clone().copy_(&g);
                }
            }
            Ok(())
        })
    }

    /// One update with learning rate `lr`; returns the gradient norm before clipping, or `None`
    /// when fp16 loss scaling skipped the update (non-finite gradients; the scale is halved).
    pub fn step(&mut self, lr: f64) -> Result<Option<f64>, PluginError> {
        self.reduce_gradients()?;
        self.apply(lr)
    }

    /// The update from the (reduced, see [`Self::reduce_gradients`]) gradient buffer: the norm in
    /// a first pass, then clipping and torch's AdamW arithmetic in one fused kernel per piece
    /// (decoupled weight decay, bias corrections from the step count) on the master weights.
    pub fn apply(&mut self, lr: f64) -> Result<Option<f64>, PluginError> {
        if self.params.is_empty() {
            return Ok(Some(0.0));
        }
        tch::no_grad(|| {
            let pieces = self.pieces();
            let mut sum_sq = Tensor::zeros([], (Kind::Float, self.grad.device()));
            for &(o, n) in &pieces {
                sum_sq += self.prepared_piece(o, n).to_kind(Kind::Float).square().sum(Kind::Float);
            }
            let norm = sum_sq.sqrt().double_value(&[]);
            if !norm.is_finite() {
                if let Some(s) = &mut self.scaler {
                    s.scale = (s.scale / 2.0).max(1.0);
                    s.good_steps = 0;
                    return Ok(None);
                }
                return Err(PluginError::new(ErrorKind::BACKEND, format!("non-finite gradient norm ({norm}) at step {}", self.step + 1)));
            }
            let clip = self.opts.max_grad_norm.filter(|&max| norm > max).map(|max| max / (norm + 1e-6));
            self.step += 1;
            let [b1, b2] = self.opts.betas;
            let _ = self.step_count.fill_(self.step as f64);
            for &(o, n) in &pieces {
                let mut g = self.prepared_piece(o, n);
                if let Some(c) = clip {
                    g *= c;
                }
                let (master, m, v) = (self.master.narrow(0, o, n), self.m.narrow(0, o, n), self.v.narrow(0, o, n));
                fused_adamw(&master, &g, &m, &v, &self.step_count, lr, b1, b2, self.opts.weight_decay, self.opts.eps)?;
            }
            // The scale grows after the update it allowed (as before: counted once per update).
            if let Some(s) = &mut self.scaler {
                s.good_steps += 1;
                if s.good_steps % s.growth_interval == 0 {
                    s.scale *= 2.0;
                }
            }
            self.copy_master_to_variables();
            Ok(Some(norm))
        })
    }

    pub fn zero_grad(&mut self) {
        let _ = tch::no_grad(|| self.grad.zero_());
    }

    /// `optimizer.safetensors` (moments and master weights by variable) and `optimizer.json`.
    pub fn save(&self, dir: &Path) -> Result<(), PluginError> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (name, &(o, n)) in self.names.iter().zip(&self.spans) {
            for (prefix, t) in [("m", &self.m), ("v", &self.v), ("master", &self.master)] {
                if prefix == "master" && !self.has_master() {
                    continue; // the weights themselves
                }
                named.push((format!("{prefix}.{name}"), t.narrow(0, o, n).to_device(tch::Device::Cpu)));
            }
        }
        let file = dir.join("optimizer.safetensors");
        Tensor::write_safetensors(&named, &file).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))?;
        let meta = serde_json::json!({
            "step": self.step, "optimizer": "adamw",
            "loss_scale": self.scaler.as_ref().map(|s| s.scale), "good_steps": self.scaler.as_ref().map(|s| s.good_steps),
        });
        let file = dir.join("optimizer.json");
        std::fs::write(&file, meta.to_string()).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))
    }

    pub fn load(&mut self, dir: &Path) -> Result<(), PluginError> {
        let file = dir.join("optimizer.safetensors");
        let named: BTreeMap<String, Tensor> = Tensor::read_safetensors(&file)
            .map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", file.display())))?
            .into_iter()
            .collect();
        tch::no_grad(|| -> Result<(), PluginError> {
            for (name, &(o, n)) in self.names.iter().zip(&self.spans) {
                for (prefix, t) in [("m", &self.m), ("v", &self.v), ("master", &self.master)] {
                    let key = format!("{prefix}.{name}");
                    // Master weights are optional: checkpoints of fp32 runs equal the weights.
                    let Some(src) = named.get(&key) else {
                        if prefix == "master" {
                            continue;
                        }
                        return Err(PluginError::new(ErrorKind::PARSE, format!("{}: missing optimizer state `{key}`", file.display())));
                    };
                    if src.numel() as i64 != n {
                        return Err(PluginError::new(
                            ErrorKind::PARSE,
                            format!("{}: optimizer state `{key}` has {} values, expected {n}", file.display(), src.numel()),
                        ));
                    }
                    let mut dst = t.narrow(0, o, n);
                    dst.copy_(&src.reshape([-1]).to_device(dst.device()));
                }
            }
            self.copy_master_to_variables();
            Ok(())
        })?;
        let meta_file = dir.join("optimizer.json");
        let meta: serde_json::Value = std::fs::read_to_string(&meta_file)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| PluginError::new(ErrorKind::PARSE, format!("{}: unreadable", meta_file.display())))?;
        self.step = meta["step"].as_i64().unwrap_or(0);
        if let (Some(s), Some(scale)) = (&mut self.scaler, meta["loss_scale"].as_f64()) {
            s.scale = scale;
            s.good_steps = meta["good_steps"].as_u64().unwrap_or(0);
        }
        Ok(())
    }
}

extern "C" {
    /// csrc/fused_adamw.cpp: ATen's `_fused_adamw_` on one tensor of each kind; 0 on success,
    /// else the C++ exception's message in `err`.
    fn lmm_fused_adamw(
        param: *mut std::ffi::c_void,
        grad: *mut std::ffi::c_void,
        exp_avg: *mut std::ffi::c_void,
        exp_avg_sq: *mut std::ffi::c_void,
        step: *mut std::ffi::c_void,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> std::ffi::c_int;

    /// csrc/fused_adamw.cpp: `param.grad = grad` (same shape, dtype and device); 0 on success.
    fn lmm_set_grad(param: *mut std::ffi::c_void, grad: *mut std::ffi::c_void, err: *mut std::ffi::c_char, err_len: usize) -> std::ffi::c_int;
}

/// Makes `grad` the gradient tensor of `param`: backward passes accumulate into it in place.
fn set_grad(param: &Tensor, grad: &Tensor) -> Result<(), PluginError> {
    // SAFETY: both handles are live at::Tensors for the call; the shim stores a reference to
    // `grad`'s storage in `param`'s autograd metadata (reference-counted by libtorch).
    shim::call(|err, len| unsafe { lmm_set_grad(shim::handle(param), shim::handle(grad), err, len) })
        .map_err(|msg| PluginError::new(ErrorKind::BACKEND, format!("setting a gradient buffer: {msg}")))
}

/// One AdamW update of `param` (fp32) with gradient `grad`, in place on the moments.
#[allow(clippy::too_many_arguments)]
fn fused_adamw(param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, step: &Tensor, lr: f64, b1: f64, b2: f64, wd: f64, eps: f64) -> Result<(), PluginError> {
    use shim::handle;
    // SAFETY: the handles point to live at::Tensors owned by the caller for the whole call; the
    // kernel updates their storage in place and keeps no reference.
    shim::call(|err, len| unsafe {
        lmm_fused_adamw(handle(param), handle(grad), handle(m), handle(v), handle(step), lr, b1, b2, wd, eps, err, len)
    })
    .map_err(|msg| PluginError::new(ErrorKind::BACKEND, format!("fused AdamW: {msg}")))
}

/// The ABI view of a tensor's storage, for the communicator.
fn buffer(t: &Tensor) -> Result<Buffer, PluginError> {
    if !t.is_contiguous() {
        return Err(PluginError::new(ErrorKind::BACKEND, "collective on a non-contiguous tensor"));
    }
    let dtype = match t.kind() {
        Kind::Float => DType::F32,
        Kind::Double => DType::F64,
        Kind::BFloat16 => DType::BF16,
        Kind::Half => DType::F16,
        k => return Err(PluginError::new(ErrorKind::BACKEND, format!("collective on a {k:?} tensor"))),
    };
    let device = match t.device() {
        tch::Device::Cuda(i) => i as i32,
        _ => -1,
    };
    Ok(Buffer { ptr: t.data_ptr() as usize, count: t.numel() as u64, dtype, device })
}

fn broadcast(comm: &CommBox, t: &Tensor) -> Result<(), PluginError> {
    comm.broadcast(buffer(t)?, 0).into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn one_step(kind: Kind) -> Vec<f32> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _ = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, 1.0, 3.0]));
        let _ = vs.root().var_copy("u", &Tensor::from_slice(&[7.0f32]));
        if kind != Kind::Float {
            vs.set_kind(kind);
        }
        let mut opt = AdamW::new(&vs, TrainOptions::from_json("{}").unwrap(), None);
        let loss = (vs.variables()["w"].to_kind(Kind::Float) * Tensor::from_slice(&[0.5f32, -2.0, 0.0])).sum(Kind::Float);
        loss.backward();
        let norm = opt.step(0.1).unwrap().unwrap();
        assert!((norm - (0.25f64 + 4.0).sqrt()).abs() < 1e-6, "{norm}");
        let mut out: Vec<f32> = Vec::try_from(vs.variables()["w"].to_kind(Kind::Float)).unwrap();
        out.extend(Vec::<f32>::try_from(vs.variables()["u"].to_kind(Kind::Float)).unwrap());
        out
    }

    /// Variables `a` [1, 2] and `b` [3] of `kind`, and their optimizer.
    fn two_variables(kind: Kind) -> (nn::VarStore, AdamW) {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _ = vs.root().var_copy("a", &Tensor::from_slice(&[1.0f32, 2.0]));
        let _ = vs.root().var_copy("b", &Tensor::from_slice(&[3.0f32]));
        if kind != Kind::Float {
            vs.set_kind(kind);
        }
        let opt = AdamW::new(&vs, TrainOptions::from_json("{}").unwrap(), None);
        (vs, opt)
    }

    /// A second rank whose gradient is this rank's plus one (host f32 buffers only).
    struct PlusOneRank;

    impl lmmrotate_abi::Communicator for PlusOneRank {
        fn rank(&self) -> u32 {
            0
        }
        fn world_size(&self) -> u32 {
            2
        }
        fn all_reduce_sum(&self, b: Buffer) -> lmmrotate_abi::abi_stable::std_types::RResult<(), PluginError> {
            assert_eq!((b.dtype, b.device), (DType::F32, -1), "gradients are reduced in fp32 on the host here");
            // SAFETY: the optimizer passes a live, contiguous f32 tensor of `count` elements.
            let v = unsafe { std::slice::from_raw_parts_mut(b.ptr as *mut f32, b.count as usize) };
            for x in v {
                *x = 2.0 * *x + 1.0;
            }
            lmmrotate_abi::abi_stable::std_types::ROk(())
        }
        fn broadcast(&self, _: Buffer, _: u32) -> lmmrotate_abi::abi_stable::std_types::RResult<(), PluginError> {
            lmmrotate_abi::abi_stable::std_types::ROk(())
        }
    }

    /// Two ranks average their gradients: fp32 in place; bf16 through fp32 pieces written back.
    #[test]
    fn gradients_are_averaged_over_ranks_piece_by_piece() {
        for (kind, piece) in [(Kind::Float, PIECE), (Kind::BFloat16, PIECE), (Kind::BFloat16, 2)] {
            let (vs, mut opt) = two_variables(kind);
            opt.piece = piece;
            opt.join(CommBox::new(PlusOneRank), &vs).unwrap();
            let vars = vs.variables();
            let x = Tensor::from_slice(&[0.5f32, -2.0]);
            let loss = (vars["a"].to_kind(Kind::Float) * x).sum(Kind::Float) + vars["b"].to_kind(Kind::Float).sum(Kind::Float) * 4.0;
            loss.backward();
            opt.reduce_gradients().unwrap();
            // This rank's gradient [0.5, -2, 4], the other's one more: the mean is 0.5 more.
            let got: Vec<f32> = Vec::try_from(opt.flat_grad()).unwrap();
            assert_eq!(got, [1.0, -1.5, 4.5], "{kind:?}, pieces of {piece}");
        }
    }

    #[test]
    fn gradients_accumulate_in_the_flat_buffer_across_backward_passes() {
        for kind in [Kind::Float, Kind::BFloat16] {
            let (vs, mut opt) = two_variables(kind);
            let vars = vs.variables();
            let loss = |k: f64| vars["a"].to_kind(Kind::Float).sum(Kind::Float) * k + vars["b"].to_kind(Kind::Float).sum(Kind::Float) * (2.0 * k);
            loss(1.0).backward();
            loss(0.5).backward(); // a second micro-batch adds to the first
            let flat: Vec<f32> = Vec::try_from(opt.flat_grad()).unwrap();
            assert_eq!(flat, [1.5, 1.5, 3.0], "{kind:?}: variables sorted by name, gradients summed");
            assert_eq!(Vec::<f32>::try_from(vars["b"].grad().to_kind(Kind::Float)).unwrap(), [3.0]);
            opt.zero_grad();
            assert_eq!(Vec::<f32>::try_from(vars["a"].grad().to_kind(Kind::Float)).unwrap(), [0.0, 0.0], "the views see the zeroed buffer");
            loss(2.0).backward();
            assert_eq!(Vec::<f32>::try_from(opt.flat_grad()).unwrap(), [2.0, 2.0, 4.0], "{kind:?}: still accumulating into the buffer");
        }
    }

    /// bf16 and fp16 variables update piece by piece: small pieces (with a frozen row, clipping
    /// and loss scaling) give exactly what one piece gives.
    #[test]
    fn updates_in_pieces_equal_one_piece() {
        let run = |kind: Kind, piece: i64| {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let table = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.25, 1.5, -0.75]).view([3, 2]);
            let _ = (vs.root() / "embed_positions").var_copy("weight", &table);
            let _ = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0, 3.0]));
            vs.set_kind(kind);
            // No weight decay: it would shrink the frozen row too (as upstream's, whose freezing
            // also only zeroes gradients).
            let opts = TrainOptions::from_json(r#"{"max_grad_norm": 0.5}"#).unwrap();
            let mut opt = AdamW::new(&vs, opts, Some(1)); // the first position row is frozen
            opt.piece = piece;
            let vars = vs.variables();
            let mut updates = 0;
            for i in 0..10 {
                let k = [1.0, -3.0, 0.5][i % 3];
                let x = Tensor::from_slice(&[1.0f32, 2.0, -1.0, 0.5, 3.0, -2.0]).view([3, 2]);
                let loss = (vars["embed_positions.weight"].to_kind(Kind::Float) * x).sum(Kind::Float) * k
                    + vars["w"].to_kind(Kind::Float).square().sum(Kind::Float);
                (loss * opt.loss_scale()).backward();
                // fp16 skips the first updates while its loss scale comes down from 2^16.
                updates += opt.step(0.05).unwrap().is_some() as usize;
                opt.zero_grad();
            }
            assert!(updates >= 3, "{kind:?}: {updates} updates");
            let mut out: Vec<f32> = Vec::try_from(opt.master.shallow_clone()).unwrap();
            out.extend(Vec::<f32>::try_from(opt.m.shallow_clone()).unwrap());
            out
        };
        for kind in [Kind::BFloat16, Kind::Half] {
            let whole = run(kind, 1 << 20);
            for piece in [2, 4] {
                // 9 elements: pieces of 4 cut through the second variable; of 2, through none.
                assert_eq!(run(kind, piece), whole, "{kind:?}, pieces of {piece}");
            }
            assert_eq!(whole[..2], [0.5, -1.0], "{kind:?}: the frozen row did not move");
        }
    }

    #[test]
    fn first_adamw_step_moves_each_weight_by_lr_against_its_gradient() {
        // Step 1 with bias correction: m̂ = g, v̂ = g², so the update is lr · g / (|g| + eps):
        // 1 − 0.1, 1 + 0.1; a zero gradient and an unused variable do not move.
        let w = one_step(Kind::Float);
        let want = [0.9f32, 1.1, 3.0, 7.0];
        for (a, b) in w.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{w:?}");
        }
    }

    #[test]
    fn fp16_loss_scaling_skips_overflowing_updates_and_halves_the_scale() {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _ = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, 2.0]));
        vs.set_kind(Kind::Half);
        let mut opt = AdamW::new(&vs, TrainOptions::from_json("{}").unwrap(), None);
        assert_eq!(opt.loss_scale(), 65536.0);
        // 65536 · 1e4 overflows fp16 (max 65504): the update is skipped, the weights stay.
        let w = vs.variables()["w"].shallow_clone();
        (w.to_kind(Kind::Float).sum(Kind::Float) * 1e4 * opt.loss_scale()).to_kind(Kind::Half).backward();
        assert_eq!(opt.step(0.1).unwrap(), None);
        assert_eq!(opt.loss_scale(), 32768.0);
        assert_eq!(Vec::<f32>::try_from(w.to_kind(Kind::Float)).unwrap(), vec![1.0, 2.0]);
        opt.zero_grad();
        // A finite scaled gradient is unscaled before the update: each weight moves by lr.
        (w.to_kind(Kind::Float).sum(Kind::Float) * opt.loss_scale()).backward();
        let norm = opt.step(0.1).unwrap().unwrap();
        assert!((norm - 2f64.sqrt()).abs() < 1e-3, "{norm}");
        let after: Vec<f32> = Vec::try_from(w.to_kind(Kind::Float)).unwrap();
        assert!((after[0] - 0.9).abs() < 1e-3 && (after[1] - 1.9).abs() < 2e-3, "{after:?}");
    }

    /// Without master weights bf16 variables take AdamW's steps directly (bf16 moments, no fp32
    /// copy); updates below half a bf16 step are then lost, which the master weights keep.
    #[test]
    fn bf16_without_master_weights_updates_the_variables_in_place() {
        let run = |master: bool, steps: usize, lr: f64| {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let _ = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, 1.0, 3.0]));
            vs.set_kind(Kind::BFloat16);
            let opts = TrainOptions::from_json(&format!(r#"{{"master_weights": {master}}}"#)).unwrap();
            let mut opt = AdamW::new(&vs, opts, None);
            assert_eq!(opt.has_master(), master);
            assert_eq!(opt.m.kind(), if master { Kind::Float } else { Kind::BFloat16 });
            for _ in 0..steps {
                let loss = (vs.variables()["w"].to_kind(Kind::Float) * Tensor::from_slice(&[0.5f32, -2.0, 0.0])).sum(Kind::Float);
                loss.backward();
                opt.step(lr).unwrap().unwrap();
                opt.zero_grad();
            }
            Vec::<f32>::try_from(vs.variables()["w"].to_kind(Kind::Float)).unwrap()
        };
        // One step of 0.1: what the master-weight path gives (bf16's nearest to 0.9 and 1.1).
        assert_eq!(run(false, 1, 0.1), vec![0.8984375, 1.1015625, 3.0]);
        // Five steps of 1e-3 (bf16's spacing at 1.0 is 2^-7): in place, each is rounded away.
        assert_eq!(run(false, 5, 1e-3), vec![1.0, 1.0, 3.0]);
        assert_eq!(run(true, 5, 1e-3), vec![0.99609375, 1.0078125, 3.0], "the fp32 master keeps them");
    }

    #[test]
    fn bf16_variables_update_through_fp32_master_weights() {
        let w = one_step(Kind::BFloat16);
        // bf16 holds 0.9 as 0.8984375 and 1.1 as 1.1015625 (nearest representable).
        assert_eq!(w, vec![0.8984375, 1.1015625, 3.0, 7.0]);
    }
}
