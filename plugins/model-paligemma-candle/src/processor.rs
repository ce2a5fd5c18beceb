//! Turns what crosses the ABI into model inputs as transformers' `PaliGemmaProcessor` does:
//! RGB images into normalised pixels, and prompt + target into one sequence
//! `<image>×N <bos> prompt \n | target <eos>` whose prefix (before `|`) attends to itself fully
//! and whose suffix is causal, with labels on the suffix only.

use crate::config::ImageNorm;
use crate::layers::BLOCKED;
use candle_core::{DType, Device, Tensor};
use lmmrotate_abi::{ErrorKind, PluginError, RgbImage};

fn backend(e: candle_core::Error) -> PluginError {
    PluginError::new(ErrorKind::BACKEND, e.to_string())
}

/// Images of `size`×`size` → [B, 3, size, size] of `dtype` on `device`: (x/255 − mean)/std.
pub fn pixels(images: &[RgbImage], size: u32, norm: &ImageNorm, device: &Device, dtype: DType) -> Result<Tensor, PluginError> {
    if images.is_empty() {
        return Err(PluginError::new(ErrorKind::INVALID_CONFIG, "empty batch"));
    }
    let n = (size * size) as usize;
    let mut data = Vec::with_capacity(images.len() * 3 * n);
    for (i, img) in images.iter().enumerate() {
        if img.width != size || img.height != size {
            return Err(PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("image {i} is {}x{}, the model takes {size}x{size} (the host resizes)", img.width, img.height),
            ));
        }
        if img.data.len() != 3 * n {
            return Err(PluginError::new(ErrorKind::INVALID_CONFIG, format!("image {i}: {} bytes for {size}x{size} RGB", img.data.len())));
        }
        for c in 0..3 {
            data.extend(img.data.iter().skip(c).step_by(3).map(|&v| (v as f32 / 255.0 - norm.mean[c]) / norm.std[c]));
        }
    }
    Tensor::from_vec(data, (images.len(), 3, size as usize, size as usize), device).and_then(|t| t.to_dtype(dtype)).map_err(backend)
}

/// A padded batch of sequences with everything the decoder needs besides the pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// [B][L] token ids (image positions hold the image token).
    pub ids: Vec<Vec<u32>>,
    /// Real token (true) or padding.
    pub valid: Vec<Vec<bool>>,
    /// Prefix token (full attention within the prefix) or suffix (causal).
    pub prefix: Vec<Vec<bool>>,
    /// Index of the first image token of each row.
    pub image_start: Vec<usize>,
    /// Per position, the token it must predict next (suffix only), or `None`.
    pub targets: Vec<Vec<Option<u32>>>,
}

/// Which side padding goes: right for training (as the processor with `suffix`), left for
/// generation (so that every row's next token is at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    Left,
    Right,
}

/// One sequence before padding.
pub struct Sequence {
    /// `<image>×N <bos> prompt \n`.
    pub prefix: Vec<u32>,
    /// `target <eos>` (empty for generation).
    pub suffix: Vec<u32>,
}

impl Sequence {
    /// `image_tokens` image tokens, `<bos>`, then the prompt's ids (the prompt text with `\n`
    /// appended, tokenised without special tokens).
    pub fn new(image_id: u32, image_tokens: usize, bos: u32, prompt_ids: &[u32], suffix: Vec<u32>) -> Self {
        let mut prefix = vec![image_id; image_tokens];
        prefix.push(bos);
        prefix.extend_from_slice(prompt_ids);
        Self { prefix, suffix }
    }
}

/// Target ids `target <eos>` cut to `max_len` tokens keeping `<eos>`; returns whether cut.
pub fn suffix(target_ids: &[u32], eos: u32, max_len: usize) -> (Vec<u32>, bool) {
    let keep = max_len.saturating_sub(1);
    let cut = target_ids.len() > keep;
    let mut s: Vec<u32> = target_ids[..target_ids.len().min(keep)].to_vec();
    s.push(eos);
    (s, cut)
}

pub fn batch(seqs: &[Sequence], pad_id: u32, side: Pad) -> Rows {
    let len = seqs.iter().map(|s| s.prefix.len() + s.suffix.len()).max().unwrap_or(0);
    let mut rows = Rows { ids: vec![], valid: vec![], prefix: vec![], image_start: vec![], targets: vec![] };
    for s in seqs {
        let n = s.prefix.len() + s.suffix.len();
        let pad = len - n;
        let mut ids: Vec<u32> = s.prefix.iter().chain(&s.suffix).copied().collect();
        let mut valid = vec![true; n];
        let mut prefix: Vec<bool> = (0..n).map(|i| i < s.prefix.len()).collect();
        // Position i predicts token i + 1 when that token is in the suffix.
        let mut targets: Vec<Option<u32>> = (0..n).map(|i| (i + 1 >= s.prefix.len() && i + 1 < n).then(|| ids[i + 1])).collect();
        let offset = match side {
            Pad::Left => pad,
            Pad::Right => 0,
        };
        let at = if side == Pad::Left { 0 } else { n };
        // Padding counts as prefix, as the processor's token_type_ids (0) say; it is never a key.
        ids.splice(at..at, std::iter::repeat_n(pad_id, pad));
        valid.splice(at..at, std::iter::repeat_n(false, pad));
        prefix.splice(at..at, std::iter::repeat_n(true, pad));
        targets.splice(at..at, std::iter::repeat_n(None, pad));
        rows.ids.push(ids);
        rows.valid.push(valid);
        rows.prefix.push(prefix);
        rows.image_start.push(offset);
        rows.targets.push(targets);
    }
    rows
}

impl Rows {
    pub fn len(&self) -> usize {
        self.ids.first().map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// 1-based positions counting real tokens (transformers: `cumsum(attention_mask)`, PaliGemma
    /// adds 1 to 0-based positions); padding gets 1. Rotary attention only sees differences, so
    /// left padding shifts nothing.
    pub fn positions(&self) -> Vec<Vec<u32>> {
        self.valid
            .iter()
            .map(|v| {
                let mut c = 0;
                v.iter()
                    .map(|&ok| {
                        c += ok as u32;
                        if ok { c } else { 1 }
                    })
                    .collect()
            })
            .collect()
    }

    /// Additive mask [B, 1, L, L]: query i sees key j when j is real and either j ≤ i or both are
    /// in the prefix (transformers' `block_sequence_ids`: prefix block 0, suffix −1).
    pub fn mask(&self) -> Vec<f32> {
        let l = self.len();
        let mut m = Vec::with_capacity(self.ids.len() * l * l);
        for (valid, prefix) in self.valid.iter().zip(&self.prefix) {
            for i in 0..l {
                for j in 0..l {
                    let see = valid[j] && (j <= i || (prefix[i] && prefix[j]));
                    m.push(if see { 0.0 } else { BLOCKED });
                }
            }
        }
        m
    }

    pub fn ids_tensor(&self, device: &Device) -> Result<Tensor, PluginError> {
        let flat: Vec<u32> = self.ids.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (self.ids.len(), self.len()), device).map_err(backend)
    }

    pub fn positions_tensor(&self, device: &Device) -> Result<Tensor, PluginError> {
        let flat: Vec<u32> = self.positions().into_iter().flatten().collect();
        Tensor::from_vec(flat, (self.ids.len(), self.len()), device).map_err(backend)
    }

    pub fn mask_tensor(&self, device: &Device) -> Result<Tensor, PluginError> {
        let l = self.len();
        Tensor::from_vec(self.mask(), (self.ids.len(), 1, l, l), device).map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_rows_pad_right_and_label_the_suffix() {
        // 1 image token (9), bos 2, prompt [5, 4]; suffix [7, 1] and [1]; pad 0.
        let a = Sequence::new(9, 1, 2, &[5, 4], vec![7, 1]);
        let b = Sequence::new(9, 1, 2, &[4], vec![1]);
        let r = batch(&[a, b], 0, Pad::Right);
        assert_eq!(r.ids, vec![vec![9, 2, 5, 4, 7, 1], vec![9, 2, 4, 1, 0, 0]]);
        assert_eq!(r.targets[0], vec![None, None, None, Some(7), Some(1), None]);
        assert_eq!(r.targets[1], vec![None, None, Some(1), None, None, None]);
        assert_eq!(r.image_start, vec![0, 0]);
        assert_eq!(r.positions()[1], vec![1, 2, 3, 4, 1, 1]);
        // Row 1: prefix = first 3 tokens (full), token 3 (<eos>) causal, 4-5 padding.
        let m = r.mask();
        let see = |i: usize, j: usize| m[36 + i * 6 + j] == 0.0;
        assert!(see(0, 2) && see(2, 0) && see(3, 2) && see(3, 3));
        assert!(!see(2, 3) && !see(0, 4) && !see(3, 4));
    }

    #[test]
    fn generation_rows_pad_left() {
        let a = Sequence::new(9, 2, 2, &[5, 4], vec![]);
        let b = Sequence::new(9, 2, 2, &[4], vec![]);
        let r = batch(&[a, b], 0, Pad::Left);
        assert_eq!(r.ids[1], vec![0, 9, 9, 2, 4]);
        assert_eq!(r.image_start, vec![0, 1]);
        assert_eq!(r.positions()[1], vec![1, 1, 2, 3, 4]);
        let m = r.mask();
        // Row 1, query 1 (first image token) sees the whole prefix but not the padding.
        assert_eq!(&m[25 + 5..25 + 10], &[BLOCKED, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn long_targets_keep_eos() {
        assert_eq!(suffix(&[5, 6, 7], 1, 3), (vec![5, 6, 1], true));
        assert_eq!(suffix(&[5], 1, 3), (vec![5, 1], false));
    }
}
