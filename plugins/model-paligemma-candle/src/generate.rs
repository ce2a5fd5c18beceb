//! Batched generation with a key/value cache, as transformers' `generate(do_sample=False)` on
//! left-padded prompts: greedy search or beam search with HF's finishing rules, length
//! normalisation and early-stop heuristic (the Florence-2 plugin's semantics, for a decoder-only
//! model whose "decoder prompt" is the whole prefix), and no repeated n-grams counted over the
//! whole row (padding, image tokens and prompt included, as HF's processor sees `input_ids`).
//!
//! One prefill runs over the prompts; beam search then copies each image's cache rows to its
//! beams. An image (or greedy row) that is done leaves the batch and its cache rows are dropped.

use crate::{language::Kv, layers::BLOCKED, model::PaliGemma, processor::Rows};
use candle_core::{DType, Device, Result, Tensor, D};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// 1 = greedy search.
    pub num_beams: usize,
    /// Most tokens generated per row.
    pub max_new_tokens: usize,
    /// 0 disables.
    pub no_repeat_ngram_size: usize,
    pub length_penalty: f64,
    /// Stop an image's search once `num_beams` hypotheses are finished.
    pub early_stopping: bool,
    pub eos_token_id: u32,
}

impl GenerateOptions {
    /// Greedy search without n-gram constraint.
    pub fn greedy(max_new_tokens: usize, eos_token_id: u32) -> Self {
        Self { num_beams: 1, max_new_tokens, no_repeat_ngram_size: 0, length_penalty: 1.0, early_stopping: false, eos_token_id }
    }
}

/// Generated ids of each row (without the prompt), ending with `eos` when one was produced.
pub fn generate(model: &PaliGemma, pixels: &Tensor, rows: &Rows, opts: &GenerateOptions) -> Result<Vec<Vec<u32>>> {
    let b = rows.ids.len();
    if opts.max_new_tokens == 0 || b == 0 {
        return Ok(vec![Vec::new(); b]);
    }
    if opts.num_beams <= 1 {
        greedy(model, pixels, rows, opts)
    } else {
        beam_search(model, pixels, rows, opts)
    }
}

/// Tokens that would complete an n-gram already present in `seq` (HF NoRepeatNGramLogitsProcessor).
fn banned_tokens(seq: &[u32], n: usize) -> Vec<u32> {
    if n == 0 || seq.len() + 1 < n {
        return Vec::new();
    }
    let prefix = &seq[seq.len() + 1 - n..];
    seq.windows(n).filter(|w| &w[..n - 1] == prefix).map(|w| w[n - 1]).collect()
}

/// Sets the banned tokens of each row of `scores` [R, V] (f32) to −∞.
fn ban_ngrams(scores: Tensor, seqs: &[Vec<u32>], n: usize) -> Result<Tensor> {
    if n == 0 {
        return Ok(scores);
    }
    let banned: Vec<Vec<u32>> = seqs.iter().map(|s| banned_tokens(s, n)).collect();
    let m = banned.iter().map(Vec::len).max().unwrap_or(0);
    if m == 0 {
        return Ok(scores);
    }
    // One scatter-add per step: −∞ at banned tokens, 0 (at token 0) where a row has fewer.
    let r = seqs.len();
    let mut idx = Vec::with_capacity(r * m);
    let mut add = Vec::with_capacity(r * m);
    for row in &banned {
        for j in 0..m {
            idx.push(row.get(j).copied().unwrap_or(0));
            add.push(if j < row.len() { f32::NEG_INFINITY } else { 0.0 });
        }
    }
    let dev = scores.device();
    scores.scatter_add(&Tensor::from_vec(idx, (r, m), dev)?, &Tensor::from_vec(add, (r, m), dev)?, 1)
}

/// The cache and per-row attention state of a batch being decoded.
struct Decoder<'a> {
    model: &'a PaliGemma,
    cache: Vec<Option<Kv>>,
    /// Which cached keys of each row are real (not padding).
    valid: Vec<Vec<bool>>,
    /// 1-based position of each row's next token.
    next_pos: Vec<u32>,
    dev: Device,
}

impl<'a> Decoder<'a> {
    /// Runs the prompts; returns the decoder and the f32 logits [B, V] of their last positions.
    fn prefill(model: &'a PaliGemma, pixels: &Tensor, rows: &Rows) -> Result<(Self, Tensor)> {
        let mut cache: Vec<Option<Kv>> = vec![None; model.language.num_layers()];
        let h = model.forward_hidden(pixels, rows, Some(&mut cache))?;
        let l = rows.len();
        let logits = model.language.logits(&h.narrow(1, l - 1, 1)?.squeeze(1)?)?.to_dtype(DType::F32)?;
        let next_pos = rows.valid.iter().map(|v| v.iter().filter(|&&x| x).count() as u32 + 1).collect();
        let dev = pixels.device().clone();
        Ok((Self { model, cache, valid: rows.valid.clone(), next_pos, dev }, logits))
    }

    /// Keeps (and reorders, repeats) the rows `keep` of the current batch.
    fn select(&mut self, keep: &[usize]) -> Result<()> {
        let idx = Tensor::from_vec(keep.iter().map(|&r| r as u32).collect::<Vec<_>>(), keep.len(), &self.dev)?;
        for slot in self.cache.iter_mut() {
            if let Some(kv) = slot.take() {
                *slot = Some(kv.index_select(&idx)?);
            }
        }
        self.valid = keep.iter().map(|&r| self.valid[r].clone()).collect();
        self.next_pos = keep.iter().map(|&r| self.next_pos[r]).collect();
        Ok(())
    }

    /// Feeds one token per row; returns the f32 logits [R, V] of the next one.
    fn step(&mut self, tokens: Vec<u32>) -> Result<Tensor> {
        let n = tokens.len();
        let x = self.model.language.embed(&Tensor::from_vec(tokens, (n, 1), &self.dev)?)?;
        let pos = Tensor::from_vec(self.next_pos.clone(), (n, 1), &self.dev)?;
        for v in self.valid.iter_mut() {
            v.push(true);
        }
        let k = self.valid[0].len();
        let mask: Vec<f32> = self.valid.iter().flat_map(|v| v.iter().map(|&ok| if ok { 0.0 } else { BLOCKED })).collect();
        let mask = Tensor::from_vec(mask, (n, 1, 1, k), &self.dev)?;
        let h = self.model.language.forward(&x, &pos, &mask, Some(&mut self.cache))?;
        for p in self.next_pos.iter_mut() {
            *p += 1;
        }
        self.model.language.logits(&h.squeeze(1)?)?.to_dtype(DType::F32)
    }
}

fn greedy(model: &PaliGemma, pixels: &Tensor, rows: &Rows, opts: &GenerateOptions) -> Result<Vec<Vec<u32>>> {
    let b = rows.ids.len();
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
    // Whole rows (prompt and generated), for the n-gram constraint.
    let mut seqs: Vec<Vec<u32>> = rows.ids.clone();
    let (mut dec, mut logits) = Decoder::prefill(model, pixels, rows)?;
    let mut active: Vec<usize> = (0..b).collect();
    for step in 0..opts.max_new_tokens {
        let act: Vec<Vec<u32>> = if opts.no_repeat_ngram_size > 0 { active.iter().map(|&r| seqs[r].clone()).collect() } else { Vec::new() };
        let scores = ban_ngrams(logits, &act, opts.no_repeat_ngram_size)?;
        let next: Vec<u32> = scores.argmax(D::Minus1)?.to_vec1()?;
        let mut keep = Vec::new();
        for (r, &row) in active.iter().enumerate() {
            out[row].push(next[r]);
            seqs[row].push(next[r]);
            if next[r] != opts.eos_token_id {
                keep.push(r);
            }
        }
        if keep.is_empty() || step + 1 == opts.max_new_tokens {
            break;
        }
        if keep.len() < active.len() {
            dec.select(&keep)?;
            active = keep.iter().map(|&r| active[r]).collect();
        }
        logits = dec.step(active.iter().map(|&row| *out[row].last().expect("one token per step")).collect())?;
    }
    Ok(out)
}

/// Per row: the values and the indices of its best entries.
type TopK = (Vec<Vec<f32>>, Vec<Vec<u32>>);

/// The `k` largest entries of each row of `x` [R, V] (f32), best first: (values, indices), on the
/// host. `k` rounds of argmax on the device keep the transfer at R × k numbers (candle has no
/// top-k); an entry taken is set to −∞ for the next round.
fn top_k_rows(x: &Tensor, k: usize) -> Result<TopK> {
    let r = x.dim(0)?;
    let mut cur = x.clone();
    let (mut vals, mut idxs) = (Vec::with_capacity(k), Vec::with_capacity(k));
    let minus_inf = Tensor::full(f32::NEG_INFINITY, (r, 1), x.device())?;
    for _ in 0..k.min(x.dim(1)?) {
        let i = cur.argmax_keepdim(1)?;
        vals.push(cur.gather(&i, 1)?);
        cur = cur.scatter_add(&i, &minus_inf, 1)?;
        idxs.push(i);
    }
    let vals: Vec<Vec<f32>> = Tensor::cat(&vals, 1)?.to_vec2()?;
    let idxs: Vec<Vec<u32>> = Tensor::cat(&idxs, 1)?.to_vec2()?;
    Ok((vals, idxs))
}

/// One image's beam search state; sequences hold generated tokens only.
struct Search {
    /// Running hypotheses (num_beams), best first, with their summed log-probs.
    running: Vec<(Vec<u32>, f64)>,
    /// Finished hypotheses with their length-normalised scores, best first.
    finished: Vec<(Vec<u32>, f64)>,
    open: bool,
}

fn beam_search(model: &PaliGemma, pixels: &Tensor, rows: &Rows, opts: &GenerateOptions) -> Result<Vec<Vec<u32>>> {
    let b = rows.ids.len();
    let k = opts.num_beams;
    let keep_n = 2 * k;
    let lp = opts.length_penalty;
    let (mut dec, logits) = Decoder::prefill(model, pixels, rows)?;
    // Row r of the batch is beam r % k of image active[r / k].
    let expand: Vec<usize> = (0..b).flat_map(|i| std::iter::repeat_n(i, k)).collect();
    dec.select(&expand)?;
    let idx = Tensor::from_vec(expand.iter().map(|&i| i as u32).collect::<Vec<_>>(), expand.len(), logits.device())?;
    let mut logits = logits.index_select(&idx, 0)?;
    let mut searches: Vec<Search> = (0..b)
        .map(|_| Search {
            running: (0..k).map(|j| (Vec::new(), if j == 0 { 0.0 } else { -1e9 })).collect(),
            finished: Vec::new(),
            open: true,
        })
        .collect();
    let mut active: Vec<usize> = (0..b).collect();
    // Tokens generated so far (the same for every running hypothesis).
    let mut gen = 0usize;
    let full_row = |img: usize, s: &[u32]| -> Vec<u32> { rows.ids[img].iter().chain(s).copied().collect() };

    loop {
        let seqs: Vec<Vec<u32>> = if opts.no_repeat_ngram_size > 0 {
            active.iter().flat_map(|&i| searches[i].running.iter().map(move |(s, _)| (i, s))).map(|(i, s)| full_row(i, s)).collect()
        } else {
            Vec::new()
        };
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let logp = ban_ngrams(logp, &seqs, opts.no_repeat_ngram_size)?;
        let scores: Vec<f32> = active.iter().flat_map(|&i| searches[i].running.iter().map(|(_, s)| *s as f32)).collect();
        let n_rows = scores.len();
        let total = logp.broadcast_add(&Tensor::from_vec(scores, (n_rows, 1), logp.device())?)?;
        let v = total.dim(1)?;
        let (top_v, top_i) = top_k_rows(&total, keep_n)?;

        let mut next_rows: Vec<usize> = Vec::new();
        let mut next_tokens: Vec<u32> = Vec::new();
        let mut still: Vec<usize> = Vec::new();
        for (a, &img) in active.iter().enumerate() {
            // The image's best `keep_n` continuations over its beams (as a top-k over beams × V;
            // equal scores keep the lower flat index first).
            let mut flat: Vec<(f32, usize, u32)> = (0..k)
                .flat_map(|beam| {
                    let r = a * k + beam;
                    top_v[r].iter().zip(&top_i[r]).map(move |(&val, &tok)| (val, beam, tok))
                })
                .collect();
            flat.sort_by(|x, y| y.0.partial_cmp(&x.0).unwrap_or(Ordering::Equal).then((x.1 * v + x.2 as usize).cmp(&(y.1 * v + y.2 as usize))));
            flat.truncate(keep_n);
            let s = &mut searches[img];
            let cands: Vec<(Vec<u32>, f64, usize, bool)> = flat
                .iter()
                .map(|&(val, beam, tok)| {
                    let mut seq = s.running[beam].0.clone();
                    seq.push(tok);
                    let hits = tok == opts.eos_token_id || gen + 1 >= opts.max_new_tokens;
                    (seq, val as f64, beam, hits)
                })
                .collect();
            // Finished: stopping candidates among the top `k` ranks, if the image may still improve.
            let full = s.finished.len() >= k && opts.early_stopping;
            if s.open && !full {
                let norm = ((gen + 1) as f64).powf(lp);
                for (seq, score, _, hits) in cands.iter().take(k) {
                    if *hits {
                        s.finished.push((seq.clone(), (*score as f32 / norm as f32) as f64));
                    }
                }
                s.finished.sort_by(|x, y| y.1.partial_cmp(&x.1).unwrap_or(Ordering::Equal));
                s.finished.truncate(k);
            }
            // Running: the best `k` candidates that did not stop (stable, as torch.topk on ties).
            let pen = |c: &(Vec<u32>, f64, usize, bool)| if c.3 { c.1 - 1e9 } else { c.1 };
            let mut order: Vec<usize> = (0..cands.len()).collect();
            order.sort_by(|&x, &y| pen(&cands[y]).partial_cmp(&pen(&cands[x])).unwrap_or(Ordering::Equal));
            s.running = order.iter().take(k).map(|&j| (cands[j].0.clone(), pen(&cands[j]) as f32 as f64)).collect();
            let all_hit = cands.iter().all(|c| c.3);

            // HF's heuristic: go on while the best running beam could beat the worst finished one.
            let best = s.running[0].1 / ((gen + 1) as f64).powf(lp);
            let worst = if s.finished.len() >= k { s.finished.iter().map(|f| f.1).fold(f64::INFINITY, f64::min) } else { -1e9 };
            s.open = s.open && best > worst;
            let exists_open = !(s.finished.len() >= k && opts.early_stopping);
            if s.open && exists_open && !all_hit && gen + 1 < opts.max_new_tokens {
                still.push(a);
                for &j in order.iter().take(k) {
                    next_rows.push(a * k + cands[j].2);
                    next_tokens.push(*cands[j].0.last().expect("one token per step"));
                }
            }
        }
        gen += 1;
        if still.is_empty() {
            break;
        }
        dec.select(&next_rows)?;
        active = still.iter().map(|&a| active[a]).collect();
        logits = dec.step(next_tokens)?;
    }
    Ok(searches.into_iter().map(|s| s.finished.into_iter().next().map(|f| f.0).unwrap_or_else(|| s.running[0].0.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banned_tokens_complete_earlier_ngrams() {
        assert_eq!(banned_tokens(&[2, 0, 5, 6, 5], 2), vec![6]);
        assert_eq!(banned_tokens(&[2, 0, 5, 6, 7, 5, 6], 3), vec![7]);
        assert!(banned_tokens(&[2, 0], 3).is_empty());
        // n = 1 bans every token seen.
        assert_eq!(banned_tokens(&[4, 9, 4], 1), vec![4, 9, 4]);
    }

    #[test]
    fn bans_and_top_k_on_a_small_table() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[0.1f32, 0.9, 0.5, 0.3], [0.7, 0.2, 0.8, 0.0]], &dev).unwrap();
        let x = ban_ngrams(x, &[vec![1, 1], vec![3]], 1).unwrap();
        let (v, i) = top_k_rows(&x, 3).unwrap();
        assert_eq!(i, vec![vec![2, 3, 0], vec![2, 0, 1]]);
        assert_eq!(v[0], vec![0.5, 0.3, 0.1]);
    }
}
