//! Florence2ForConditionalGeneration: DaViT → image projection → [image ; prompt] → BART → tied
//! LM head (florence2.md §2). The variable names are the original checkpoint keys.

use crate::{
    config::Florence2Config,
    language::{embed, Decoder, Encoder, Kv, SelfCache},
    vision::DaViT,
};
use tch::{nn, nn::Module, Kind, Tensor};

pub struct Florence2 {
    pub cfg: Florence2Config,
    vision: DaViT,
    row_embeddings: Tensor,
    column_embeddings: Tensor,
    /// `visual_temporal_embed.pos_idx_to_embed` [max_temporal, C]: a buffer, not trained.
    temporal: Tensor,
    image_projection: Tensor,
    image_proj_norm: nn::LayerNorm,
    shared: Tensor,
    /// An untied LM head, for fine-tunes saved that way; `None` = tied to `shared`.
    lm_head: Option<Tensor>,
    final_logits_bias: Tensor,
    pub encoder: Encoder,
    pub decoder: Decoder,
}

/// Cosine temporal table: sin on even channels, cos on odd ones (PositionalEmbeddingCosine1D).
fn cosine_table(rows: i64, dim: i64) -> Tensor {
    let half = Tensor::arange_start_step(0, dim, 2, (Kind::Double, tch::Device::Cpu));
    let denom = (half * (-(10000f64.ln()) / dim as f64)).exp();
    let freq = Tensor::arange(rows, (Kind::Double, tch::Device::Cpu)).unsqueeze(1) * denom.unsqueeze(0);
    Tensor::stack(&[freq.sin(), freq.cos()], 2).reshape([rows, dim]).to_kind(Kind::Float)
}

impl Florence2 {
    pub fn new(root: &nn::Path, cfg: &Florence2Config, tied: bool) -> Self {
        let v = &cfg.vision;
        let c3 = *v.dim_embed.last().expect("at least one stage");
        let d = cfg.text.d_model;
        let vocab = cfg.text.vocab_size;
        let pos = root / "image_pos_embed";
        let lm = root / "language_model";
        let model = &lm / "model";
        let temporal_p = root / "visual_temporal_embed";
        let temporal = temporal_p.var_copy("pos_idx_to_embed", &cosine_table(v.max_temporal_embeddings, c3));
        let _ = temporal.set_requires_grad(false);
        let final_logits_bias = lm.zeros_no_train("final_logits_bias", &[1, vocab]);
        Self {
            cfg: cfg.clone(),
            vision: DaViT::new(root / "vision_tower", v),
            row_embeddings: (&pos / "row_embeddings").var("weight", &[v.max_pos_embeddings, c3 / 2], nn::Init::Uniform { lo: 0.0, up: 1.0 }),
            column_embeddings: (&pos / "column_embeddings").var(
                "weight",
                &[v.max_pos_embeddings, c3 - c3 / 2],
                nn::Init::Uniform { lo: 0.0, up: 1.0 },
            ),
            temporal,
            image_projection: root.var("image_projection", &[c3, d], nn::Init::Randn { mean: 0.0, stdev: 1.0 / (c3 as f64).sqrt() }),
            image_proj_norm: nn::layer_norm(root / "image_proj_norm", vec![d], Default::default()),
            shared: (&model / "shared").var("weight", &[vocab, d], nn::Init::Randn { mean: 0.0, stdev: 0.02 }),
            lm_head: (!tied).then(|| (&lm / "lm_head").var("weight", &[vocab, d], nn::Init::Randn { mean: 0.0, stdev: 0.02 })),
            final_logits_bias,
            encoder: Encoder::new(&model / "encoder", &cfg.text),
            decoder: Decoder::new(&model / "decoder", &cfg.text),
        }
    }

    /// Gradient checkpointing (crate::recompute) of every DaViT block and every encoder and
    /// decoder layer during training; generation is unaffected.
    pub fn set_recompute(&mut self, on: bool) {
        self.vision.recompute = on;
        self.encoder.recompute = on;
        self.decoder.recompute = on;
    }

    pub fn shared(&self) -> &Tensor {
        &self.shared
    }

    /// Normalised pixels [B, 3, R, R] → image features [B, 1 + (R/32)², d].
    pub fn image_features(&self, pixels: &Tensor, train: bool) -> Tensor {
        let (x, h, w) = self.vision.forward(pixels, train);
        let (_, n, c) = x.size3().unwrap();
        assert!(
            h <= self.row_embeddings.size()[0] && w <= self.column_embeddings.size()[0],
            "feature grid {h}x{w} exceeds the 2-D position table"
        );
        // Cell (r, c) gets [column_embeddings[c] | row_embeddings[r]].
        let col = self.column_embeddings.narrow(0, 0, w).unsqueeze(0).expand([h, w, -1], false);
        let row = self.row_embeddings.narrow(0, 0, h).unsqueeze(1).expand([h, w, -1], false);
        let pos = Tensor::cat(&[col, row], 2).reshape([1, n, c]);
        let x = x + pos + self.temporal.get(0).to_kind(pixels.kind()).reshape([1, 1, c]);
        let pooled = x.mean_dim(1, true, None);
        let x = Tensor::cat(&[pooled, x], 1);
        self.image_proj_norm.forward(&x.matmul(&self.image_projection))
    }

    /// Encoder output for images and prompt ids [B, T].
    pub fn encode(&self, pixels: &Tensor, prompt_ids: &Tensor, train: bool) -> Tensor {
        let img = self.image_features(pixels, train);
        let txt = embed(&self.shared, prompt_ids, self.cfg.text.pad_token_id);
        self.encoder.forward(&Tensor::cat(&[img, txt], 1), train)
    }

    /// Hidden states → float32 logits over the vocabulary.
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        let head = self.lm_head.as_ref().unwrap_or(&self.shared);
        (hidden.matmul(&head.tr()) + &self.final_logits_bias).to_kind(Kind::Float)
    }

    /// Teacher-forced decoder logits [B, S, V].
    pub fn forward(&self, pixels: &Tensor, prompt_ids: &Tensor, decoder_ids: &Tensor, train: bool) -> Tensor {
        let enc = self.encode(pixels, prompt_ids, train);
        let cross = self.decoder.cross_kv(&enc);
        let h = self.decoder.forward(decoder_ids, &self.shared, &cross, None, train);
        self.logits(&h)
    }

    /// One incremental decoder call (generation).
    pub fn decode_step(&self, ids: &Tensor, cross: &[Kv], cache: &mut SelfCache) -> Tensor {
        let h = self.decoder.forward(ids, &self.shared, cross, Some(cache), false);
        self.logits(&h.narrow(1, h.size()[1] - 1, 1)).squeeze_dim(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_row_zero_alternates_zero_and_one() {
        let t = cosine_table(3, 6);
        assert_eq!(Vec::<f32>::try_from(t.get(0)).unwrap(), vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        let r1: Vec<f32> = Vec::try_from(t.get(1)).unwrap();
        assert!((r1[0] - 1f32.sin()).abs() < 1e-6 && (r1[1] - 1f32.cos()).abs() < 1e-6);
    }
}
