//! Sums of host buffers gathered from every rank, added in rank order so that every rank computes
//! the same bits.

use crate::error::{DistError, Result};
use lmmrotate_abi::DType;

/// Adds the `parts` (one per rank, raw little-endian elements of `dtype`) into `out`.
pub fn sum_into(dtype: DType, parts: &[Vec<u8>], out: &mut [u8]) -> Result<()> {
    if let Some(bad) = parts.iter().position(|p| p.len() != out.len()) {
        return Err(DistError::Peer { rank: bad as u32, reason: format!("sent {} bytes to a reduction of {}", parts[bad].len(), out.len()) });
    }
    match dtype {
        DType::F32 => sum_as::<4>(parts, out, |b| f32::from_le_bytes(b) as f64, |v| (v as f32).to_le_bytes(), true),
        DType::F64 => sum_as::<8>(parts, out, f64::from_le_bytes, f64::to_le_bytes, false),
        DType::BF16 => sum_as::<2>(parts, out, |b| bf16_to_f32(u16::from_le_bytes(b)) as f64, |v| f32_to_bf16(v as f32).to_le_bytes(), true),
        DType::F16 => return Err(DistError::Invalid("host-memory reduction of f16 is not supported (reduce f32 instead)".into())),
    }
    Ok(())
}

/// `narrow`: accumulate in the element type (as NCCL does) rather than in f64.
fn sum_as<const N: usize>(
    parts: &[Vec<u8>],
    out: &mut [u8],
    read: impl Fn([u8; N]) -> f64,
    write: impl Fn(f64) -> [u8; N],
    narrow: bool,
) {
    for (i, o) in out.chunks_exact_mut(N).enumerate() {
        let mut acc = 0.0f64;
        for p in parts {
            let v = read(p[i * N..(i + 1) * N].try_into().expect("chunk"));
            acc = if narrow { (acc as f32 + v as f32) as f64 } else { acc + v };
        }
        o.copy_from_slice(&write(acc));
    }
}

fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// Round to nearest even, as torch converts.
fn f32_to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return 0x7fc0;
    }
    let round = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_f32(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn f32_sums_elementwise_and_checks_lengths() {
        let parts = vec![bytes_f32(&[1.0, 2.0]), bytes_f32(&[0.5, -4.0]), bytes_f32(&[0.25, 0.0])];
        let mut out = vec![0u8; 8];
        sum_into(DType::F32, &parts, &mut out).unwrap();
        assert_eq!(out, bytes_f32(&[1.75, -2.0]));
        let e = sum_into(DType::F32, &[bytes_f32(&[1.0]), bytes_f32(&[1.0, 2.0])], &mut [0u8; 4]).unwrap_err().to_string();
        assert!(e.contains("rank 1: sent 8 bytes"), "{e}");
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to even (1.0).
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        let parts = vec![0x3f80u16.to_le_bytes().to_vec(), 0x4000u16.to_le_bytes().to_vec()];
        let mut out = [0u8; 2];
        sum_into(DType::BF16, &parts, &mut out).unwrap();
        assert_eq!(u16::from_le_bytes(out), 0x4040); // 1 + 2 = 3
    }
}
