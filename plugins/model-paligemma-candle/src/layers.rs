//! Differentiable building blocks. candle-nn's fused `layer_norm`, `rms_norm`,
//! `softmax_last_dim` and `rope` record no backward pass (`apply_op*_no_bwd`), so gradients
//! silently stop at them; these compose plain tensor ops instead, with transformers' precision
//! (statistics and softmax in f32).

use candle_core::{DType, Result, Tensor, D};

/// Additive mask value of a blocked key; finite so that a fully blocked row cannot make NaN.
pub const BLOCKED: f32 = -1e30;

/// `torch.nn.LayerNorm` over the last dimension.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let dt = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let xc = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let y = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    y.broadcast_mul(&weight.to_dtype(DType::F32)?)?.broadcast_add(&bias.to_dtype(DType::F32)?)?.to_dtype(dt)
}

/// Gemma's RMSNorm: `x / sqrt(mean(x²) + eps) · (1 + w)` in f32, cast back.
pub fn gemma_rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let dt = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    let y = x.broadcast_mul(&(ms + eps)?.sqrt()?.recip()?)?;
    y.broadcast_mul(&(weight.to_dtype(DType::F32)? + 1.0)?)?.to_dtype(dt)
}

/// Scaled dot-product attention, `q` [B, H, Lq, D], `k`/`v` [B, H, Lk, D], `mask` additive
/// [B, 1, Lq, Lk] (f32) or none; scores and softmax in f32 as transformers' eager attention.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64, mask: Option<&Tensor>) -> Result<Tensor> {
    let scores = (q.contiguous()?.matmul(&k.transpose(2, 3)?.contiguous()?)? * scale)?.to_dtype(DType::F32)?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let p = candle_nn::ops::softmax(&scores, D::Minus1)?.to_dtype(v.dtype())?;
    p.matmul(&v.contiguous()?)
}

/// Rotary embedding tables for `positions` [B, L] (u32): cos, sin as [B, 1, L, head_dim] in `dt`,
/// computed as transformers does (f32 `position · inv_freq`, halves repeated).
pub fn rope_tables(positions: &Tensor, head_dim: usize, theta: f64, dt: DType) -> Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1.0 / theta.powf(i as f64 / head_dim as f64) as f32).collect();
    let n = inv.len();
    let inv = Tensor::from_vec(inv, (1, 1, n), positions.device())?;
    let freqs = positions.to_dtype(DType::F32)?.unsqueeze(2)?.broadcast_mul(&inv)?;
    let emb = Tensor::cat(&[&freqs, &freqs], D::Minus1)?;
    Ok((emb.cos()?.to_dtype(dt)?.unsqueeze(1)?, emb.sin()?.to_dtype(dt)?.unsqueeze(1)?))
}

/// `x · cos + rotate_half(x) · sin` for `x` [B, H, L, D].
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)? + rot.broadcast_mul(sin)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn norms_and_softmax_pass_gradients() {
        // The fused candle-nn ops would give no gradient for `w` here.
        let dev = Device::Cpu;
        let w = Var::from_vec(vec![0.5f32, -0.25, 1.0], 3, &dev).unwrap();
        let b = Tensor::zeros(3, DType::F32, &dev).unwrap();
        let x = Tensor::new(&[[1.0f32, 2.0, 4.0]], &dev).unwrap();
        let y = layer_norm(&x, w.as_tensor(), &b, 1e-6).unwrap();
        let y = gemma_rms_norm(&y, w.as_tensor(), 1e-6).unwrap();
        let p = candle_nn::ops::softmax(&y, D::Minus1).unwrap();
        let loss = p.narrow(1, 0, 1).unwrap().sum_all().unwrap();
        let g = loss.backward().unwrap();
        let gw: Vec<f32> = g.get(w.as_tensor()).expect("gradient reaches w").to_vec1().unwrap();
        assert!(gw.iter().any(|v| v.abs() > 1e-4), "{gw:?}");
    }

    #[test]
    fn rope_rotates_pairs_of_halves() {
        // head_dim 2, position 1, theta irrelevant (inv_freq = 1): (x1, x2) rotated by 1 rad.
        let dev = Device::Cpu;
        let pos = Tensor::new(&[[1u32]], &dev).unwrap();
        let (c, s) = rope_tables(&pos, 2, 10000.0, DType::F32).unwrap();
        let x = Tensor::new(&[1.0f32, 0.0], &dev).unwrap().reshape((1, 1, 1, 2)).unwrap();
        let y: Vec<f32> = apply_rope(&x, &c, &s).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!((y[0] - 1f32.cos()).abs() < 1e-6 && (y[1] - 1f32.sin()).abs() < 1e-6, "{y:?}");
    }
}
