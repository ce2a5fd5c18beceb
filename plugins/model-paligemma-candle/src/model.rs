//! PaliGemma: SigLIP patch features, projected to the decoder width, take the place of the
//! `<image>` tokens of a Gemma prefix-LM (transformers' `PaliGemmaForConditionalGeneration`).
//! candle-transformers' `paligemma::Model` divides the image features by their L2 norm, which is
//! not transformers' arithmetic (no scaling since transformers 5; ÷√hidden then ×√hidden before).

use crate::{
    config::PaliGemmaConfig,
    language::{Gemma, Kv},
    lora::LoraSpec,
    processor::Rows,
    vision::SiglipVision,
};
use candle_core::{Device, Module, Result, Tensor, D};
use candle_nn::{linear, Linear, VarBuilder};

pub struct PaliGemma {
    pub vision: SiglipVision,
    projector: Linear,
    pub language: Gemma,
    pub cfg: PaliGemmaConfig,
}

impl PaliGemma {
    /// Weight paths of the hub checkpoints: `vision_tower.vision_model.*`,
    /// `multi_modal_projector.linear.*`, `language_model.model.*`. With `lora` (a builder at the
    /// root, on the adapters' variables), the decoder's target layers get adapters.
    pub fn new(cfg: &PaliGemmaConfig, vb: VarBuilder, lora: Option<&LoraSpec>) -> Result<Self> {
        Ok(Self {
            vision: SiglipVision::new(&cfg.vision, vb.pp("vision_tower").pp("vision_model"))?,
            projector: linear(cfg.vision.hidden_size, cfg.projection_dim, vb.pp("multi_modal_projector").pp("linear"))?,
            language: Gemma::new(&cfg.text, vb.pp("language_model").pp("model"), lora.map(|l| l.pp("language_model").pp("model")).as_ref())?,
            cfg: cfg.clone(),
        })
    }

    /// Projected image features [B, N, hidden].
    pub fn image_features(&self, pixels: &Tensor) -> Result<Tensor> {
        self.projector.forward(&self.vision.forward(pixels)?)
    }

    /// Input embeddings [B, L, hidden]: scaled token embeddings with each row's image tokens
    /// (at `rows.image_start`) replaced by its image's features.
    pub fn embed(&self, pixels: &Tensor, rows: &Rows, device: &Device) -> Result<Tensor> {
        let feats = self.image_features(pixels)?;
        let n = feats.dim(1)?;
        // The image token may lie outside the vocabulary (transformers maps it to 0 there too).
        let vocab = self.cfg.text.vocab_size as u32;
        let ids: Vec<u32> = rows.ids.iter().flatten().map(|&t| if t >= vocab { 0 } else { t }).collect();
        let ids = Tensor::from_vec(ids, (rows.ids.len(), rows.len()), device)?;
        let text = self.language.embed(&ids)?;
        let l = rows.len();
        let mut out = Vec::with_capacity(rows.ids.len());
        for (b, &s) in rows.image_start.iter().enumerate() {
            if s + n > l {
                candle_core::bail!("row {b}: {n} image features do not fit at {s} in {l} tokens")
            }
            let t = text.get(b)?;
            let mut parts = Vec::with_capacity(3);
            if s > 0 {
                parts.push(t.narrow(0, 0, s)?);
            }
            parts.push(feats.get(b)?.to_dtype(t.dtype())?);
            if s + n < l {
                parts.push(t.narrow(0, s + n, l - s - n)?);
            }
            out.push(Tensor::cat(&parts, 0)?);
        }
        Tensor::stack(&out, 0)
    }

    /// Decoder hidden states [B, L, hidden] of a whole batch (prefix-LM mask), filling `cache`
    /// when given.
    pub fn forward_hidden(&self, pixels: &Tensor, rows: &Rows, cache: Option<&mut [Option<Kv>]>) -> Result<Tensor> {
        let dev = pixels.device();
        let x = self.embed(pixels, rows, dev)?;
        let pos = rows.positions_tensor(dev).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let mask = rows.mask_tensor(dev).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        self.language.forward(&x, &pos, &mask, cache)
    }

    /// Logits [B, L, vocab] at every position (teacher forcing; for parity checks).
    pub fn forward(&self, pixels: &Tensor, rows: &Rows) -> Result<Tensor> {
        let h = self.forward_hidden(pixels, rows, None)?;
        let (b, l, d) = h.dims3()?;
        self.language.logits(&h.reshape((b * l, d))?)?.reshape((b, l, ()))
    }

    /// Mean token cross-entropy over the suffix targets, and their number. Only the positions
    /// with a target go through the norm and the vocabulary projection.
    pub fn suffix_loss(&self, pixels: &Tensor, rows: &Rows) -> Result<(Tensor, usize)> {
        let h = self.forward_hidden(pixels, rows, None)?;
        let (b, l, d) = h.dims3()?;
        let (mut at, mut target) = (Vec::new(), Vec::new());
        for (r, ts) in rows.targets.iter().enumerate() {
            for (i, t) in ts.iter().enumerate() {
                if let Some(t) = t {
                    at.push((r * l + i) as u32);
                    target.push(*t);
                }
            }
        }
        if at.is_empty() {
            candle_core::bail!("batch has no target tokens")
        }
        let n = at.len();
        let dev = h.device();
        let sel = h.reshape((b * l, d))?.index_select(&Tensor::from_vec(at, n, dev)?, 0)?;
        let logits = self.language.logits(&sel)?.to_dtype(candle_core::DType::F32)?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let picked = logp.gather(&Tensor::from_vec(target, (n, 1), dev)?, 1)?;
        Ok(((picked.sum_all()? / n as f64)?.neg()?, n))
    }
}
