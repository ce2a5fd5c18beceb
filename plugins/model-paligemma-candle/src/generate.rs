//! Batched greedy decoding with a key/value cache, as transformers' `generate(do_sample=False,
//! num_beams=1)` on left-padded prompts: one prefill over the prefix-LM prompt, then one token per
//! step; a row that emits `<eos>` leaves the batch and its cache rows are dropped.

use crate::{language::Kv, layers::BLOCKED, model::PaliGemma, processor::Rows};
use candle_core::{Result, Tensor, D};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreedyOptions {
    /// Most tokens generated per row.
    pub max_new_tokens: usize,
    pub eos_token_id: u32,
}

/// Generated ids of each row (without the prompt), ending with `<eos>` when one was produced.
pub fn greedy(model: &PaliGemma, pixels: &Tensor, rows: &Rows, opts: GreedyOptions) -> Result<Vec<Vec<u32>>> {
    let b = rows.ids.len();
    let dev = pixels.device().clone();
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
    if opts.max_new_tokens == 0 || b == 0 {
        return Ok(out);
    }
    let mut cache: Vec<Option<Kv>> = vec![None; model.language.num_layers()];
    let h = model.forward_hidden(pixels, rows, Some(&mut cache))?;
    let l = rows.len();
    let mut logits = model.language.logits(&h.narrow(1, l - 1, 1)?.squeeze(1)?)?;
    // Per active row: its index in the batch, which cached keys are real, its next position.
    let mut active: Vec<usize> = (0..b).collect();
    let mut valid: Vec<Vec<bool>> = rows.valid.clone();
    let mut next_pos: Vec<u32> = rows.valid.iter().map(|v| v.iter().filter(|&&x| x).count() as u32 + 1).collect();
    for step in 0..opts.max_new_tokens {
        let next: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
        let mut keep = Vec::new();
        for (r, &row) in active.iter().enumerate() {
            out[row].push(next[r]);
            if next[r] != opts.eos_token_id {
                keep.push(r);
            }
        }
        if keep.is_empty() || step + 1 == opts.max_new_tokens {
            break;
        }
        if keep.len() < active.len() {
            let idx: Vec<u32> = keep.iter().map(|&r| r as u32).collect();
            let idx = Tensor::from_vec(idx, keep.len(), &dev)?;
            for slot in cache.iter_mut() {
                if let Some(kv) = slot.take() {
                    *slot = Some(kv.index_select(&idx)?);
                }
            }
            valid = keep.iter().map(|&r| valid[r].clone()).collect();
            next_pos = keep.iter().map(|&r| next_pos[r]).collect();
            active = keep.iter().map(|&r| active[r]).collect();
        }
        let n = active.len();
        let ids: Vec<u32> = active.iter().map(|&row| *out[row].last().expect("one token per step")).collect();
        let x = model.language.embed(&Tensor::from_vec(ids, (n, 1), &dev)?)?;
        let pos = Tensor::from_vec(next_pos.clone(), (n, 1), &dev)?;
        for v in valid.iter_mut() {
            v.push(true);
        }
        let k = valid[0].len();
        let mask: Vec<f32> = valid.iter().flat_map(|v| v.iter().map(|&ok| if ok { 0.0 } else { BLOCKED })).collect();
        let mask = Tensor::from_vec(mask, (n, 1, 1, k), &dev)?;
        let h = model.language.forward(&x, &pos, &mask, Some(&mut cache))?;
        logits = model.language.logits(&h.squeeze(1)?)?;
        for p in next_pos.iter_mut() {
            *p += 1;
        }
    }
    Ok(out)
}
