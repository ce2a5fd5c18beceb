//! Full fine-tuning: AdamW (torch's arithmetic) over the model's variables, with fp32 moments and
//! fp32 master weights when the variables are bf16/fp16, gradient accumulation across
//! micro-batches, optional global-norm clipping and freezing of model parts; its state is saved
//! to and restored from `optimizer.safetensors` + `optimizer.json`. In a data-parallel group the
//! ranks start from rank 0's weights and optimizer state and average their gradients before each
//! update.

use candle_core::{backprop::GradStore, DType, Device, Tensor, Var};
use candle_nn::VarMap;
use lmmrotate_abi::{Buffer, CommBox, ErrorKind, PluginError};
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
    /// The data-parallel group, when training on several ranks.
    comm: Option<CommBox>,
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
        Ok(Self { params, step: 0, opts, comm: None })
    }

    /// Joins a data-parallel group: every variable of `vars` (trained or not), the master weights
    /// and the moments become rank 0's, so that all ranks start from the same state; from then on
    /// each update first averages the gradients over the ranks (one fp32 all-reduce of all of
    /// them, after the last micro-batch of an accumulation).
    pub fn join(&mut self, comm: CommBox, vars: &VarMap) -> Result<(), PluginError> {
        if comm.world_size() > 1 {
            let data = vars.data().lock().expect("var map lock");
            let mut names: Vec<&String> = data.keys().collect();
            names.sort();
            for name in names {
                let var = &data[name];
                let t = collective(&comm, var.as_tensor(), Collective::Broadcast)
                    .map_err(|e| e.context(format!("broadcasting `{name}` from rank 0")))?;
                var.set(&t).map_err(backend)?;
            }
            for p in &mut self.params {
                let ctx = |e: PluginError| e.context(format!("broadcasting the optimizer state of `{}` from rank 0", p.name));
                p.m = collective(&comm, &p.m, Collective::Broadcast).map_err(ctx)?;
                p.v = collective(&comm, &p.v, Collective::Broadcast).map_err(ctx)?;
                p.master = if p.var.dtype() == DType::F32 {
                    p.var.as_tensor().copy().map_err(backend)?
                } else {
                    collective(&comm, &p.master, Collective::Broadcast).map_err(ctx)?
                };
            }
            let mut step = [self.step as f64];
            comm.broadcast(Buffer::host_f64(&mut step), 0).into_result().map_err(|e| e.context("broadcasting the step"))?;
            self.step = step[0] as u64;
        }
        self.comm = Some(comm);
        Ok(())
    }

    /// Replaces the accumulated gradients by their mean over the ranks (zeros where a rank has
    /// none, so that every rank reduces the same layout).
    fn average_gradients(&mut self) -> Result<(), PluginError> {
        let Some(comm) = &self.comm else { return Ok(()) };
        let world = comm.world_size();
        if world <= 1 || self.params.is_empty() {
            return Ok(());
        }
        let parts: Vec<Tensor> = self
            .params
            .iter()
            .map(|p| match &p.grad {
                Some(g) => g.flatten_all(),
                None => Tensor::zeros(p.var.elem_count(), DType::F32, p.master.device()),
            })
            .collect::<candle_core::Result<_>>()
            .map_err(backend)?;
        let flat = Tensor::cat(&parts, 0).map_err(backend)?;
        let sum = collective(comm, &flat, Collective::AllReduceSum)
            .map_err(|e| e.context(format!("averaging gradients at step {}", self.step + 1)))?;
        let mean = (sum / world as f64).map_err(backend)?;
        let mut offset = 0;
        for p in &mut self.params {
            let n = p.var.elem_count();
            p.grad = Some(mean.narrow(0, offset, n).and_then(|g| g.reshape(p.var.shape())).map_err(backend)?);
            offset += n;
        }
        Ok(())
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
        self.average_gradients()?;
        // One device-to-host read for the norm (not one per variable).
        let squares: Vec<Tensor> =
            self.params.iter().filter_map(|p| p.grad.as_ref()).map(|g| g.sqr().and_then(|s| s.sum_all())).collect::<candle_core::Result<_>>().map_err(backend)?;
        let sq = if squares.is_empty() {
            0.0
        } else {
            Tensor::stack(&squares, 0).and_then(|s| s.sum_all()).and_then(|s| s.to_scalar::<f32>()).map_err(backend)? as f64
        };
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

#[derive(Clone, Copy)]
enum Collective {
    Broadcast,
    AllReduceSum,
}

/// `t` after a collective over the group, as a new tensor of its dtype and device: in host memory
/// for CPU tensors; in place on a fresh copy for CUDA tensors (NCCL on the legacy default stream,
/// which orders itself with candle's per-thread stream).
fn collective(comm: &CommBox, t: &Tensor, op: Collective) -> Result<Tensor, PluginError> {
    let run = |b: Buffer| -> Result<(), PluginError> {
        match op {
            Collective::Broadcast => comm.broadcast(b, 0),
            Collective::AllReduceSum => comm.all_reduce_sum(b),
        }
        .into_result()
    };
    match t.device() {
        Device::Cpu => {
            // f32 on the host (exact for bf16/fp16 values and for the sums of f32 gradients).
            let mut v: Vec<f32> = t.flatten_all().and_then(|f| f.to_dtype(DType::F32)).and_then(|f| f.to_vec1()).map_err(backend)?;
            run(Buffer::host_f32(&mut v))?;
            Tensor::from_vec(v, t.shape(), &Device::Cpu).and_then(|r| r.to_dtype(t.dtype())).map_err(backend)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(dev) => {
            let copy = t.contiguous().and_then(|c| c.copy()).map_err(backend)?;
            candle_core::backend::BackendDevice::synchronize(dev).map_err(backend)?;
            run(cuda_buffer(&copy)?)?;
            Ok(copy)
        }
        d => Err(PluginError::new(ErrorKind::UNSUPPORTED, format!("data-parallel training on {d:?}"))),
    }
}

/// The device memory of a contiguous CUDA tensor, as the communicator takes it.
#[cfg(feature = "cuda")]
fn cuda_buffer(t: &Tensor) -> Result<Buffer, PluginError> {
    use candle_core::{backend::BackendStorage, cuda::cudarc::driver::DevicePtr, Storage};
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cuda(s) = &*storage else {
        return Err(PluginError::new(ErrorKind::BACKEND, "expected a CUDA tensor"));
    };
    let stream = s.device().cuda_stream();
    let (ptr, dtype) = match t.dtype() {
        DType::F32 => (s.as_cuda_slice::<f32>().map_err(backend)?.device_ptr(&stream).0, lmmrotate_abi::DType::F32),
        DType::BF16 => (s.as_cuda_slice::<half::bf16>().map_err(backend)?.device_ptr(&stream).0, lmmrotate_abi::DType::BF16),
        DType::F16 => (s.as_cuda_slice::<half::f16>().map_err(backend)?.device_ptr(&stream).0, lmmrotate_abi::DType::F16),
        d => return Err(PluginError::new(ErrorKind::BACKEND, format!("collective on a {d:?} tensor"))),
    };
    let offset = (layout.start_offset() * t.dtype().size_in_bytes()) as u64;
    let ordinal = match t.device().location() {
        candle_core::DeviceLocation::Cuda { gpu_id } => gpu_id as i32,
        _ => 0,
    };
    Ok(Buffer { ptr: (ptr + offset) as usize, count: t.elem_count() as u64, dtype, device: ordinal })
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
