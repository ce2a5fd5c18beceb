//! The SigLIP vision tower (transformers' `SiglipVisionModel` without the pooling head), laid
//! out as candle-transformers' `siglip::VisionModel` (same weight paths), with differentiable
//! layer norms and attention so that it trains.

use crate::layers::{attention, layer_norm};
use candle_core::{Module, Result, Tensor};
use candle_nn::{linear, Init, Linear, VarBuilder};
use candle_transformers::models::siglip::VisionConfig;

struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
            eps,
        })
    }
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    fn new(cfg: &VisionConfig, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            q: linear(h, h, vb.pp("q_proj"))?,
            k: linear(h, h, vb.pp("k_proj"))?,
            v: linear(h, h, vb.pp("v_proj"))?,
            out: linear(h, h, vb.pp("out_proj"))?,
            heads: cfg.num_attention_heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, l, h) = x.dims3()?;
        let d = h / self.heads;
        let split = |t: Tensor| t.reshape((b, l, self.heads, d))?.transpose(1, 2);
        let q = split(self.q.forward(x)?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let o = attention(&q, &k, &v, (d as f64).powf(-0.5), None)?;
        self.out.forward(&o.transpose(1, 2)?.reshape((b, l, h))?)
    }
}

struct Layer {
    norm1: Norm,
    attn: Attention,
    norm2: Norm,
    fc1: Linear,
    fc2: Linear,
}

impl Layer {
    fn new(cfg: &VisionConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm1: Norm::new(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layer_norm1"))?,
            attn: Attention::new(cfg, vb.pp("self_attn"))?,
            norm2: Norm::new(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layer_norm2"))?,
            fc1: linear(cfg.hidden_size, cfg.intermediate_size, vb.pp("mlp").pp("fc1"))?,
            fc2: linear(cfg.intermediate_size, cfg.hidden_size, vb.pp("mlp").pp("fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm1.forward(x)?)?)?;
        // gelu_pytorch_tanh (candle's `gelu` is the tanh approximation).
        let m = self.fc2.forward(&self.fc1.forward(&self.norm2.forward(&x)?)?.gelu()?)?;
        x + m
    }
}

pub struct SiglipVision {
    /// Conv2d weight [hidden, C, P, P] and bias, applied as a patch matmul (stride = kernel).
    patch_weight: Tensor,
    patch_bias: Tensor,
    /// [patches, hidden].
    position: Tensor,
    layers: Vec<Layer>,
    post_norm: Norm,
    cfg: VisionConfig,
}

impl SiglipVision {
    /// `vb` at `vision_tower.vision_model`.
    pub fn new(cfg: &VisionConfig, vb: VarBuilder) -> Result<Self> {
        let (h, c, p) = (cfg.hidden_size, cfg.num_channels, cfg.patch_size);
        let e = vb.pp("embeddings");
        let fan_in = (c * p * p) as f64;
        let patch_weight = e.pp("patch_embedding").get_with_hints((h, c, p, p), "weight", Init::Randn { mean: 0.0, stdev: fan_in.powf(-0.5) })?;
        let patch_bias = e.pp("patch_embedding").get_with_hints(h, "bias", Init::Const(0.0))?;
        let n = (cfg.image_size / p).pow(2);
        let position = e.pp("position_embedding").get_with_hints((n, h), "weight", Init::Randn { mean: 0.0, stdev: 0.02 })?;
        let layers =
            (0..cfg.num_hidden_layers).map(|i| Layer::new(cfg, vb.pp("encoder").pp("layers").pp(i))).collect::<Result<_>>()?;
        let post_norm = Norm::new(h, cfg.layer_norm_eps, vb.pp("post_layernorm"))?;
        Ok(Self { patch_weight, patch_bias, position, layers, post_norm, cfg: cfg.clone() })
    }

    /// Pixels [B, C, S, S] (normalised) → patch features [B, (S/P)², hidden].
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let (b, c, s, s2) = pixels.dims4()?;
        let p = self.cfg.patch_size;
        if s != self.cfg.image_size || s2 != self.cfg.image_size {
            candle_core::bail!("vision tower takes {0}x{0} pixels, got {s}x{s2}", self.cfg.image_size)
        }
        let g = s / p;
        let patches = pixels
            .reshape(vec![b, c, g, p, g, p])?
            .permute(vec![0, 2, 4, 1, 3, 5])?
            .contiguous()?
            .reshape((b, g * g, c * p * p))?;
        let w = self.patch_weight.reshape((self.cfg.hidden_size, c * p * p))?.to_dtype(pixels.dtype())?;
        let mut x = patches.broadcast_matmul(&w.t()?)?.broadcast_add(&self.patch_bias)?.broadcast_add(&self.position)?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        self.post_norm.forward(&x)
    }
}
