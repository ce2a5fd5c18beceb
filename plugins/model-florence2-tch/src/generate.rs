//! Generation with the semantics LMMRotate inherits from HF transformers (5.x): decoder start
//! token, forced `<s>` first, forced `</s>` at the last position, no repeated n-grams, greedy or
//! beam search with HF's finishing rules and length normalisation, and the early-stop heuristic.
//!
//! Several images run as one batch (images × beams rows); an image whose search is over leaves the
//! batch, and the self-attention cache and cross-attention keys shrink with it. The cross-attention
//! keys/values are computed once per image.

use crate::{language::Kv, model::Florence2};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// 1 = greedy search.
    pub num_beams: i64,
    /// Decoder length including the start token (HF `max_length`).
    pub max_length: i64,
    /// 0 disables.
    pub no_repeat_ngram_size: i64,
    pub length_penalty: f64,
    /// Stop an image's search once `num_beams` hypotheses are finished.
    pub early_stopping: bool,
    pub decoder_start_token_id: i64,
    pub forced_bos_token_id: Option<i64>,
    pub forced_eos_token_id: Option<i64>,
    pub eos_token_id: i64,
    pub pad_token_id: i64,
    /// `</s>` is suppressed below this decoder length (HF `min_length`; 0 = off).
    pub min_length: i64,
}

impl GenerateOptions {
    /// LMMRotate's evaluation settings (upstream.md §6.2) with Florence-2's token ids.
    pub fn florence2() -> Self {
        Self {
            num_beams: 3,
            max_length: 1024,
            no_repeat_ngram_size: 3,
            length_penalty: 1.0,
            early_stopping: false,
            decoder_start_token_id: 2,
            forced_bos_token_id: Some(0),
            forced_eos_token_id: Some(2),
            eos_token_id: 2,
            pad_token_id: 1,
            min_length: 0,
        }
    }
}

/// Tokens that would complete an n-gram already present in `seq` (HF NoRepeatNGramLogitsProcessor).
fn banned_tokens(seq: &[i64], n: usize) -> Vec<i64> {
    if n == 0 || seq.len() + 1 < n {
        return Vec::new();
    }
    let prefix = &seq[seq.len() + 1 - n..];
    let mut out = Vec::new();
    for w in seq.windows(n) {
        if &w[..n - 1] == prefix {
            out.push(w[n - 1]);
        }
    }
    out
}

/// The logits processors in HF's order, on scores [rows, V] (log-probs or logits).
fn process(scores: &mut Tensor, seqs: &[Vec<i64>], opts: &GenerateOptions) {
    let cur_len = seqs[0].len() as i64;
    let n = opts.no_repeat_ngram_size as usize;
    if n > 0 && cur_len as usize + 1 >= n {
        let mut rows = Vec::new();
        let mut cols = Vec::new();
        for (r, s) in seqs.iter().enumerate() {
            for t in banned_tokens(s, n) {
                rows.push(r as i64);
                cols.push(t);
            }
        }
        if !rows.is_empty() {
            let dev = scores.device();
            let r = Tensor::from_slice(&rows).to_device(dev);
            let c = Tensor::from_slice(&cols).to_device(dev);
            let _ = scores.index_put_(&[Some(r), Some(c)], &Tensor::from(f32::NEG_INFINITY).to_device(dev), false);
        }
    }
    if cur_len < opts.min_length {
        let _ = scores.narrow(1, opts.eos_token_id, 1).fill_(f64::NEG_INFINITY);
    }
    let force = |scores: &mut Tensor, tok: i64| {
        let _ = scores.fill_(f64::NEG_INFINITY);
        let _ = scores.narrow(1, tok, 1).fill_(0.0);
    };
    if cur_len == 1 {
        if let Some(b) = opts.forced_bos_token_id {
            force(scores, b);
        }
    }
    if cur_len == opts.max_length - 1 {
        if let Some(e) = opts.forced_eos_token_id {
            force(scores, e);
        }
    }
}

/// Generates for images `pixels` [B, 3, R, R] with prompts [B, T]; returns the token ids of each
/// image (start token first, ending with EOS when one was produced, no padding).
pub fn generate(model: &Florence2, pixels: &Tensor, prompt_ids: &Tensor, opts: &GenerateOptions) -> Vec<Vec<i64>> {
    let enc = model.encode(pixels, prompt_ids, false);
    let cross = model.decoder.cross_kv(&enc);
    if opts.num_beams <= 1 {
        greedy(model, &cross, opts)
    } else {
        beam_search(model, &cross, opts)
    }
}

fn row_index(rows: &[i64], dev: Device) -> Tensor {
    Tensor::from_slice(rows).to_device(dev)
}

fn select_cache(cache: &mut [Option<Kv>], rows: &Tensor) {
    for c in cache.iter_mut() {
        if let Some(kv) = c.take() {
            *c = Some(kv.index_select(rows));
        }
    }
}

fn greedy(model: &Florence2, cross_b: &[Kv], opts: &GenerateOptions) -> Vec<Vec<i64>> {
    let b = cross_b[0].k.size()[0] as usize;
    let dev = cross_b[0].k.device();
    let mut seqs: Vec<Vec<i64>> = vec![vec![opts.decoder_start_token_id]; b];
    let mut active: Vec<usize> = (0..b).collect();
    let mut cross: Vec<Kv> = cross_b.iter().map(|kv| Kv { k: kv.k.shallow_clone(), v: kv.v.shallow_clone() }).collect();
    let mut cache: Vec<Option<Kv>> = (0..model.decoder.num_layers()).map(|_| None).collect();
    while !active.is_empty() && (seqs[active[0]].len() as i64) < opts.max_length {
        let last: Vec<i64> = active.iter().map(|&i| *seqs[i].last().unwrap()).collect();
        let ids = Tensor::from_slice(&last).to_device(dev).unsqueeze(1);
        let mut scores = model.decode_step(&ids, &cross, &mut cache);
        let act_seqs: Vec<Vec<i64>> = active.iter().map(|&i| seqs[i].clone()).collect();
        process(&mut scores, &act_seqs, opts);
        let next: Vec<i64> = Vec::try_from(scores.argmax(1, false).to_device(Device::Cpu)).expect("argmax ids");
        let mut keep = Vec::new();
        for (r, &i) in active.iter().enumerate() {
            seqs[i].push(next[r]);
            if next[r] != opts.eos_token_id {
                keep.push(r);
            }
        }
        if keep.len() < active.len() {
            let rows: Vec<i64> = keep.iter().map(|&r| r as i64).collect();
            let idx = row_index(&rows, dev);
            select_cache(&mut cache, &idx);
            cross = cross.iter().map(|kv| kv.index_select(&idx)).collect();
            active = keep.iter().map(|&r| active[r]).collect();
        }
    }
    seqs
}

/// One image's beam search state.
struct Search {
    /// Running hypotheses (num_beams), best first, with their summed log-probs.
    running: Vec<(Vec<i64>, f64)>,
    /// Finished hypotheses with their normalised scores.
    finished: Vec<(Vec<i64>, f64)>,
    open: bool,
}

fn beam_search(model: &Florence2, cross_b: &[Kv], opts: &GenerateOptions) -> Vec<Vec<i64>> {
    let b = cross_b[0].k.size()[0] as usize;
    let k = opts.num_beams as usize;
    let dev = cross_b[0].k.device();
    let start = vec![opts.decoder_start_token_id];
    let mut searches: Vec<Search> = (0..b)
        .map(|_| Search {
            running: (0..k).map(|j| (start.clone(), if j == 0 { 0.0 } else { -1e9 })).collect(),
            finished: Vec::new(),
            open: true,
        })
        .collect();
    // Row r of the batch is beam r % k of image active[r / k].
    let mut active: Vec<usize> = (0..b).collect();
    let image_rows: Vec<i64> = (0..b as i64).flat_map(|i| std::iter::repeat_n(i, k)).collect();
    let mut cross: Vec<Kv> = cross_b.iter().map(|kv| kv.index_select(&row_index(&image_rows, dev))).collect();
    let mut cache: Vec<Option<Kv>> = (0..model.decoder.num_layers()).map(|_| None).collect();
    let mut cur_len = 1i64;
    let keep_n = 2 * k;

    while !active.is_empty() {
        let seqs: Vec<Vec<i64>> = active.iter().flat_map(|&i| searches[i].running.iter().map(|(s, _)| s.clone())).collect();
        let last: Vec<i64> = seqs.iter().map(|s| *s.last().unwrap()).collect();
        let ids = Tensor::from_slice(&last).to_device(dev).unsqueeze(1);
        let logits = model.decode_step(&ids, &cross, &mut cache);
        let mut logp = logits.log_softmax(-1, Kind::Float);
        process(&mut logp, &seqs, opts);
        let v = logp.size()[1];
        let beam_scores: Vec<f32> =
            active.iter().flat_map(|&i| searches[i].running.iter().map(|(_, s)| *s as f32)).collect();
        let total = logp + Tensor::from_slice(&beam_scores).to_device(dev).unsqueeze(1);
        let (top_v, top_i) = total.reshape([active.len() as i64, k as i64 * v]).topk(keep_n as i64, 1, true, true);
        let top_v: Vec<f32> = Vec::try_from(top_v.to_device(Device::Cpu).reshape([-1])).unwrap();
        let top_i: Vec<i64> = Vec::try_from(top_i.to_device(Device::Cpu).reshape([-1])).unwrap();

        let mut next_rows: Vec<i64> = Vec::new();
        let mut still: Vec<usize> = Vec::new();
        for (a, &img) in active.iter().enumerate() {
            let s = &mut searches[img];
            let mut cands = Vec::with_capacity(keep_n);
            for j in 0..keep_n {
                let flat = top_i[a * keep_n + j];
                let (beam, tok) = ((flat / v) as usize, flat % v);
                let mut seq = s.running[beam].0.clone();
                seq.push(tok);
                let hits = tok == opts.eos_token_id || cur_len + 1 >= opts.max_length;
                cands.push((seq, top_v[a * keep_n + j] as f64, beam, hits));
            }
            // Finished: stopping candidates among the top `k` ranks, if the image may still improve.
            let full = s.finished.len() >= k && opts.early_stopping;
            if s.open && !full {
                let norm = ((cur_len + 1 - 1) as f64).powf(opts.length_penalty);
                for (seq, score, _, hits) in cands.iter().take(k) {
                    if *hits {
                        s.finished.push((seq.clone(), (*score as f32 / norm as f32) as f64));
                    }
                }
                s.finished.sort_by(|x, y| y.1.partial_cmp(&x.1).unwrap_or(std::cmp::Ordering::Equal));
                s.finished.truncate(k);
            }
            // Running: the best `k` candidates that did not stop (stable, as torch.topk on ties).
            let mut order: Vec<usize> = (0..keep_n).collect();
            let pen = |c: &(Vec<i64>, f64, usize, bool)| if c.3 { c.1 - 1e9 } else { c.1 };
            order.sort_by(|&x, &y| pen(&cands[y]).partial_cmp(&pen(&cands[x])).unwrap_or(std::cmp::Ordering::Equal));
            s.running = order.iter().take(k).map(|&j| (cands[j].0.clone(), pen(&cands[j]) as f32 as f64)).collect();
            let beams: Vec<usize> = order.iter().take(k).map(|&j| cands[j].2).collect();
            let all_hit = cands.iter().all(|c| c.3);

            // HF's heuristic: go on while the best running beam could beat the worst finished one.
            let best = s.running[0].1 / (cur_len as f64).powf(opts.length_penalty);
            let worst = if s.finished.len() >= k { s.finished.iter().map(|f| f.1).fold(f64::INFINITY, f64::min) } else { -1e9 };
            s.open = s.open && best > worst;
            let exists_open = !(s.finished.len() >= k && opts.early_stopping);
            if s.open && exists_open && !all_hit && cur_len + 1 < opts.max_length {
                still.push(a);
                next_rows.extend(beams.iter().map(|&bm| (a * k + bm) as i64));
            }
        }
        cur_len += 1;
        if still.is_empty() {
            break;
        }
        let idx = row_index(&next_rows, dev);
        select_cache(&mut cache, &idx);
        if still.len() < active.len() {
            let rows: Vec<i64> = still.iter().flat_map(|&a| (0..k).map(move |j| (a * k + j) as i64)).collect();
            let cidx = row_index(&rows, dev);
            cross = cross.iter().map(|kv| kv.index_select(&cidx)).collect();
        }
        active = still.iter().map(|&a| active[a]).collect();
    }
    searches
        .into_iter()
        .map(|s| s.finished.into_iter().next().map(|f| f.0).unwrap_or_else(|| s.running[0].0.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banned_tokens_complete_earlier_ngrams() {
        assert_eq!(banned_tokens(&[2, 0, 5, 6, 5], 2), vec![6]);
        assert_eq!(banned_tokens(&[2, 0, 5, 6, 7, 5, 6], 3), vec![7]);
        assert!(banned_tokens(&[2, 0], 3).is_empty());
    }
}
