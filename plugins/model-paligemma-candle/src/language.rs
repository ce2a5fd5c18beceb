//! The Gemma decoder (transformers' `GemmaModel`), laid out as candle-transformers'
//! `gemma::Model` (same weight paths), with what training and batched generation need and that
//! one lacks: differentiable norms/softmax/rotary, per-row positions and masks (prefix-LM and
//! padding), hidden states at every position, and a key/value cache owned by the caller.

use crate::{
    config::TextConfig,
    layers::{apply_rope, attention, gemma_rms_norm, rope_tables},
    lora::{LoraLinear, LoraSpec},
};
use candle_core::{Module, Result, Tensor};
use candle_nn::{linear_no_bias, Init, VarBuilder};

/// A bias-free linear layer `name` under `vb`, with a LoRA adapter when `lora` targets it.
fn linear(inp: usize, out: usize, vb: &VarBuilder, name: &str, lora: Option<&LoraSpec>) -> Result<LoraLinear> {
    LoraLinear::new(linear_no_bias(inp, out, vb.pp(name))?, name, lora)
}
use candle_transformers::utils::repeat_kv;

/// Cached keys and values of one layer, [B, kv_heads, L, head_dim] (before head repetition).
#[derive(Clone)]
pub struct Kv {
    pub k: Tensor,
    pub v: Tensor,
}

impl Kv {
    pub fn index_select(&self, rows: &Tensor) -> Result<Self> {
        Ok(Self { k: self.k.index_select(rows, 0)?, v: self.v.index_select(rows, 0)? })
    }
}

struct Attention {
    q: LoraLinear,
    k: LoraLinear,
    v: LoraLinear,
    o: LoraLinear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &TextConfig, vb: VarBuilder, lora: Option<&LoraSpec>) -> Result<Self> {
        let (h, d) = (cfg.hidden_size, cfg.head_dim);
        Ok(Self {
            q: linear(h, cfg.num_attention_heads * d, &vb, "q_proj", lora)?,
            k: linear(h, cfg.num_key_value_heads * d, &vb, "k_proj", lora)?,
            v: linear(h, cfg.num_key_value_heads * d, &vb, "v_proj", lora)?,
            o: linear(cfg.num_attention_heads * d, h, &vb, "o_proj", lora)?,
            heads: cfg.num_attention_heads,
            kv_heads: cfg.num_key_value_heads,
            head_dim: d,
        })
    }

    fn forward(&self, x: &Tensor, rope: &(Tensor, Tensor), mask: &Tensor, cache: Option<&mut Option<Kv>>) -> Result<Tensor> {
        let (b, l, _) = x.dims3()?;
        let d = self.head_dim;
        let q = self.q.forward(x)?.reshape((b, l, self.heads, d))?.transpose(1, 2)?;
        let k = self.k.forward(x)?.reshape((b, l, self.kv_heads, d))?.transpose(1, 2)?;
        let v = self.v.forward(x)?.reshape((b, l, self.kv_heads, d))?.transpose(1, 2)?.contiguous()?;
        let q = apply_rope(&q.contiguous()?, &rope.0, &rope.1)?;
        let k = apply_rope(&k.contiguous()?, &rope.0, &rope.1)?;
        let (k, v) = match cache {
            Some(slot) => {
                let kv = match slot.take() {
                    Some(prev) => Kv { k: Tensor::cat(&[&prev.k, &k], 2)?, v: Tensor::cat(&[&prev.v, &v], 2)? },
                    None => Kv { k, v },
                };
                *slot = Some(kv.clone());
                (kv.k, kv.v)
            }
            None => (k, v),
        };
        let rep = self.heads / self.kv_heads;
        let o = attention(&q, &repeat_kv(k, rep)?, &repeat_kv(v, rep)?, (d as f64).powf(-0.5), Some(mask))?;
        self.o.forward(&o.transpose(1, 2)?.reshape((b, l, self.heads * d))?)
    }
}

struct Layer {
    input_norm: Tensor,
    attn: Attention,
    post_norm: Tensor,
    gate: LoraLinear,
    up: LoraLinear,
    down: LoraLinear,
    eps: f64,
}

impl Layer {
    fn new(cfg: &TextConfig, vb: VarBuilder, lora: Option<&LoraSpec>) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let mlp = vb.pp("mlp");
        let mlp_lora = lora.map(|l| l.pp("mlp"));
        Ok(Self {
            // Gemma norms scale by (1 + w): zero is the identity.
            input_norm: vb.pp("input_layernorm").get_with_hints(h, "weight", Init::Const(0.0))?,
            attn: Attention::new(cfg, vb.pp("self_attn"), lora.map(|l| l.pp("self_attn")).as_ref())?,
            post_norm: vb.pp("post_attention_layernorm").get_with_hints(h, "weight", Init::Const(0.0))?,
            gate: linear(h, i, &mlp, "gate_proj", mlp_lora.as_ref())?,
            up: linear(h, i, &mlp, "up_proj", mlp_lora.as_ref())?,
            down: linear(i, h, &mlp, "down_proj", mlp_lora.as_ref())?,
            eps: cfg.rms_norm_eps,
        })
    }

    fn forward(&self, x: &Tensor, rope: &(Tensor, Tensor), mask: &Tensor, cache: Option<&mut Option<Kv>>) -> Result<Tensor> {
        let a = self.attn.forward(&gemma_rms_norm(x, &self.input_norm, self.eps)?, rope, mask, cache)?;
        let x = (x + a)?;
        let h = gemma_rms_norm(&x, &self.post_norm, self.eps)?;
        // gelu_pytorch_tanh (candle's `gelu` is the tanh approximation).
        let m = self.down.forward(&(self.gate.forward(&h)?.gelu()? * self.up.forward(&h)?)?)?;
        x + m
    }
}

pub struct Gemma {
    /// [vocab, hidden]; also the output projection (PaliGemma ties them).
    pub embed: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    pub cfg: TextConfig,
}

impl Gemma {
    /// `vb` (and `lora`'s builder) at `language_model.model`.
    pub fn new(cfg: &TextConfig, vb: VarBuilder, lora: Option<&LoraSpec>) -> Result<Self> {
        let embed = vb.pp("embed_tokens").get_with_hints((cfg.vocab_size, cfg.hidden_size), "weight", Init::Randn { mean: 0.0, stdev: 0.02 })?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, vb.pp("layers").pp(i), lora.map(|l| l.pp("layers").pp(i)).as_ref()))
            .collect::<Result<_>>()?;
        let norm = vb.pp("norm").get_with_hints(cfg.hidden_size, "weight", Init::Const(0.0))?;
        Ok(Self { embed, layers, norm, cfg: cfg.clone() })
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Token embeddings [B, L, hidden] scaled by √hidden (in the weights' dtype, as transformers'
    /// `GemmaTextScaledWordEmbedding`); image features are inserted after this scaling.
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let e = self.embed.index_select(&ids.flatten_all()?, 0)?.reshape((b, l, self.cfg.hidden_size))?;
        e * (self.cfg.hidden_size as f64).sqrt()
    }

    /// Hidden states [B, L, hidden] before the final norm. `positions` [B, L] u32, `mask`
    /// additive [B, 1, L, cached + L] f32; with `cache`, keys/values are appended to it.
    pub fn forward(&self, x: &Tensor, positions: &Tensor, mask: &Tensor, mut cache: Option<&mut [Option<Kv>]>) -> Result<Tensor> {
        let rope = rope_tables(positions, self.cfg.head_dim, self.cfg.rope_theta, x.dtype())?;
        let mut x = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c[i]);
            x = layer.forward(&x, &rope, mask, slot)?;
        }
        Ok(x)
    }

    /// Logits [N, vocab] of hidden states [N, hidden]: final norm, then the tied projection.
    pub fn logits(&self, h: &Tensor) -> Result<Tensor> {
        gemma_rms_norm(h, &self.norm, self.cfg.rms_norm_eps)?.matmul(&self.embed.t()?)
    }
}
