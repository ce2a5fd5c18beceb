//! The BART encoder-decoder of Florence-2 (florence2.md §2.5–2.6): post-LN layers, learned
//! positions with an offset of 2, `layernorm_embedding`, exact GELU, attention through libtorch's
//! scaled-dot-product attention. Paths mirror `language_model.model.{encoder,decoder}`.

use crate::{config::TextConfig, recompute::{checkpoint, maybe_checkpoint}};
use tch::{nn, nn::Module, Tensor};

/// BART's learned positions start at row 2.
pub const POSITION_OFFSET: i64 = 2;

fn linear(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    nn::linear(p, i, o, Default::default())
}

fn layer_norm(p: nn::Path, dim: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![dim], Default::default())
}

/// Keys and values of one attention, [B, heads, L, head_dim].
#[derive(Debug)]
pub struct Kv {
    pub k: Tensor,
    pub v: Tensor,
}

impl Kv {
    pub fn index_select(&self, rows: &Tensor) -> Kv {
        Kv { k: self.k.index_select(0, rows), v: self.v.index_select(0, rows) }
    }
}

pub struct Attention {
    q: nn::Linear,
    k: nn::Linear,
    v: nn::Linear,
    out: nn::Linear,
    heads: i64,
    dropout: f64,
}

impl Attention {
    fn new(p: nn::Path, d: i64, heads: i64, dropout: f64) -> Self {
        Self {
            q: linear(&p / "q_proj", d, d),
            k: linear(&p / "k_proj", d, d),
            v: linear(&p / "v_proj", d, d),
            out: linear(&p / "out_proj", d, d),
            heads,
            dropout,
        }
    }

    fn split(&self, x: &Tensor) -> Tensor {
        let (b, l, d) = x.size3().expect("[B, L, d]");
        x.reshape([b, l, self.heads, d / self.heads]).transpose(1, 2)
    }

    pub fn kv(&self, x: &Tensor) -> Kv {
        Kv { k: self.split(&self.k.forward(x)), v: self.split(&self.v.forward(x)) }
    }

    /// Attention of the queries of `x` over `kv`; `causal` masks later positions (no cache).
    fn attend(&self, x: &Tensor, kv: &Kv, causal: bool, train: bool) -> Tensor {
        let (b, l, d) = x.size3().unwrap();
        let q = self.split(&self.q.forward(x));
        let hd = d / self.heads;
        let p = if train { self.dropout } else { 0.0 };
        let o = Tensor::scaled_dot_product_attention(&q, &kv.k, &kv.v, None::<Tensor>, p, causal, (hd as f64).powf(-0.5), false);
        self.out.forward(&o.transpose(1, 2).reshape([b, l, d]))
    }
}

/// `final_layer_norm(h + dropout(fc2(dropout(gelu(fc1(h))))))`, the FFN half of every layer.
struct FeedForward {
    fc1: nn::Linear,
    fc2: nn::Linear,
    final_layer_norm: nn::LayerNorm,
}

impl FeedForward {
    fn new(lp: &nn::Path, d: i64, ffn: i64) -> Self {
        Self {
            fc1: linear(lp / "fc1", d, ffn),
            fc2: linear(lp / "fc2", ffn, d),
            final_layer_norm: layer_norm(lp / "final_layer_norm", d),
        }
    }

    fn forward(&self, h: Tensor, dropout: f64, activation_dropout: f64, train: bool) -> Tensor {
        let f = self.fc1.forward(&h).gelu("none").dropout(activation_dropout, train);
        let f = self.fc2.forward(&f).dropout(dropout, train);
        self.final_layer_norm.forward(&(h + f))
    }
}

/// The learned position table (offset 2) and `layernorm_embedding` of a stack.
struct Embeddings {
    embed_positions: Tensor,
    layernorm_embedding: nn::LayerNorm,
}

impl Embeddings {
    fn new(p: &nn::Path, c: &TextConfig) -> Self {
        Self {
            embed_positions: (p / "embed_positions").var(
                "weight",
                &[c.max_position_embeddings + POSITION_OFFSET, c.d_model],
                nn::Init::Randn { mean: 0.0, stdev: 0.02 },
            ),
            layernorm_embedding: layer_norm(p / "layernorm_embedding", c.d_model),
        }
    }

    /// `dropout(layernorm_embedding(x + positions[past .. past + len]))`.
    fn forward(&self, x: Tensor, past: i64, dropout: f64, train: bool) -> Tensor {
        let len = x.size()[1];
        let h = x + positions(&self.embed_positions, past, len);
        self.layernorm_embedding.forward(&h).dropout(dropout, train)
    }
}

struct EncoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: nn::LayerNorm,
    ffn: FeedForward,
}

/// Embedding lookup that leaves the padding row without gradient, as `nn.Embedding(padding_idx)`.
pub fn embed(table: &Tensor, ids: &Tensor, pad: i64) -> Tensor {
    Tensor::embedding(table, ids, pad, false, false)
}

fn positions(table: &Tensor, past: i64, len: i64) -> Tensor {
    table.narrow(0, past + POSITION_OFFSET, len)
}

pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<EncoderLayer>,
    dropout: f64,
    activation_dropout: f64,
    /// Gradient checkpointing of every layer in training (crate::recompute).
    pub recompute: bool,
}

impl Encoder {
    pub fn new(p: nn::Path, c: &TextConfig) -> Self {
        let d = c.d_model;
        let layers = (0..c.encoder_layers)
            .map(|i| {
                let lp = &p / "layers" / i;
                EncoderLayer {
                    self_attn: Attention::new(&lp / "self_attn", d, c.encoder_attention_heads, c.attention_dropout),
                    self_attn_layer_norm: layer_norm(&lp / "self_attn_layer_norm", d),
                    ffn: FeedForward::new(&lp, d, c.encoder_ffn_dim),
                }
            })
            .collect();
        Self {
            embeddings: Embeddings::new(&p, c),
            layers,
            dropout: c.dropout,
            activation_dropout: c.activation_dropout,
            recompute: false,
        }
    }

    /// `inputs_embeds` [B, L, d] (image features then prompt embeddings) → hidden [B, L, d].
    pub fn forward(&self, inputs_embeds: &Tensor, train: bool) -> Tensor {
        let mut h = self.embeddings.forward(inputs_embeds.shallow_clone(), 0, self.dropout, train);
        for layer in &self.layers {
            h = maybe_checkpoint(self.recompute && train, h, move |h| {
                let kv = layer.self_attn.kv(h);
                let a = layer.self_attn.attend(h, &kv, false, train).dropout(self.dropout, train);
                let h = layer.self_attn_layer_norm.forward(&(h + a));
                layer.ffn.forward(h, self.dropout, self.activation_dropout, train)
            });
        }
        h
    }
}

struct DecoderLayer {
    self_attn: Attention,
    self_attn_layer_norm: nn::LayerNorm,
    encoder_attn: Attention,
    encoder_attn_layer_norm: nn::LayerNorm,
    ffn: FeedForward,
}

impl DecoderLayer {
    /// The layer over a whole teacher-forced sequence (causal self-attention, no cache).
    fn forward_causal(&self, h: &Tensor, cross: &Kv, dropout: f64, activation_dropout: f64, train: bool) -> Tensor {
        let kv = self.self_attn.kv(h);
        self.forward_with(h, &kv, h.size()[1] > 1, cross, dropout, activation_dropout, train)
    }

    /// The layer with its self-attention over `kv` (this call's and any cached positions').
    #[allow(clippy::too_many_arguments)]
    fn forward_with(&self, h: &Tensor, kv: &Kv, causal: bool, cross: &Kv, dropout: f64, activation_dropout: f64, train: bool) -> Tensor {
        let a = self.self_attn.attend(h, kv, causal, train).dropout(dropout, train);
        let h = self.self_attn_layer_norm.forward(&(h + a));
        let x = self.encoder_attn.attend(&h, cross, false, train).dropout(dropout, train);
        let h = self.encoder_attn_layer_norm.forward(&(h + x));
        self.ffn.forward(h, dropout, activation_dropout, train)
    }
}

/// Per decoder layer: the growing self-attention keys/values.
pub type SelfCache = Vec<Option<Kv>>;

pub struct Decoder {
    embeddings: Embeddings,
    layers: Vec<DecoderLayer>,
    dropout: f64,
    activation_dropout: f64,
    pad: i64,
    /// Gradient checkpointing of every layer in training without a cache (crate::recompute).
    pub recompute: bool,
}

impl Decoder {
    pub fn new(p: nn::Path, c: &TextConfig) -> Self {
        let d = c.d_model;
        let layers = (0..c.decoder_layers)
            .map(|i| {
                let lp = &p / "layers" / i;
                DecoderLayer {
                    self_attn: Attention::new(&lp / "self_attn", d, c.decoder_attention_heads, c.attention_dropout),
                    self_attn_layer_norm: layer_norm(&lp / "self_attn_layer_norm", d),
                    encoder_attn: Attention::new(&lp / "encoder_attn", d, c.decoder_attention_heads, c.attention_dropout),
                    encoder_attn_layer_norm: layer_norm(&lp / "encoder_attn_layer_norm", d),
                    ffn: FeedForward::new(&lp, d, c.decoder_ffn_dim),
                }
            })
            .collect();
        Self {
            embeddings: Embeddings::new(&p, c),
            layers,
            dropout: c.dropout,
            activation_dropout: c.activation_dropout,
            pad: c.pad_token_id,
            recompute: false,
        }
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Cross-attention keys/values of every layer for an encoder output (computed once per image).
    pub fn cross_kv(&self, encoder_out: &Tensor) -> Vec<Kv> {
        self.layers.iter().map(|l| l.encoder_attn.kv(encoder_out)).collect()
    }

    /// Decoder ids [B, S] at positions `past..past+S` → hidden [B, S, d]. With a cache, S is 1
    /// after the first call and the cache grows; without one, self-attention is causal.
    pub fn forward(
        &self,
        ids: &Tensor,
        shared: &Tensor,
        cross: &[Kv],
        cache: Option<&mut SelfCache>,
        train: bool,
    ) -> Tensor {
        let s = ids.size()[1];
        let past = cache.as_ref().and_then(|c| c.first()).and_then(|kv| kv.as_ref()).map_or(0, |kv| kv.k.size()[2]);
        let mut h = self.embeddings.forward(embed(shared, ids, self.pad), past, self.dropout, train);
        let Some(cache) = cache else {
            // Teacher forcing over the whole sequence.
            let (dropout, activation_dropout) = (self.dropout, self.activation_dropout);
            for (layer, kv) in self.layers.iter().zip(cross) {
                h = if self.recompute && train {
                    // Each layer keeps its input and the cross keys/values only.
                    checkpoint(&[&h, &kv.k, &kv.v], move |xs| {
                        let kv = Kv { k: xs[1].shallow_clone(), v: xs[2].shallow_clone() };
                        vec![layer.forward_causal(&xs[0], &kv, dropout, activation_dropout, train)]
                    })
                    .pop()
                    .expect("one output")
                } else {
                    layer.forward_causal(&h, kv, dropout, activation_dropout, train)
                };
            }
            return h;
        };
        for (i, layer) in self.layers.iter().enumerate() {
            let new = layer.self_attn.kv(&h);
            let kv = match cache[i].take() {
                Some(old) => Kv { k: Tensor::cat(&[old.k, new.k], 2), v: Tensor::cat(&[old.v, new.v], 2) },
                None => new,
            };
            // Only the first (multi-token) call needs the causal mask.
            h = layer.forward_with(&h, &kv, past == 0 && s > 1, &cross[i], self.dropout, self.activation_dropout, train);
            cache[i] = Some(kv);
        }
        h
    }
}
