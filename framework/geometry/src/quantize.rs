//! Florence-2's coordinate quantiser: 1000 bins per axis relative to the image size.
//!
//! Upstream (`CoordinatesQuantizer('floor', bins=(1000, 1000))`) computes
//! `clamp(floor(x / (W / 1000)), 0, 999)` and dequantises with `(b + 0.5) * W / 1000`. The division
//! runs in torch: an integer input tensor divided by a Python float is computed in float32, a float
//! input in float64 — which changes some bins (x = 128 at W = 1024 gives 124 in float32, 125 in
//! float64). [`Precision`] picks the path explicitly.

/// Number of bins per axis.
pub const BINS: u32 = 1000;

/// Arithmetic of the quantiser's division.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Precision {
    /// float32, as upstream for integer coordinates (int64 tensor / float).
    F32,
    /// float64, as upstream for float coordinates.
    #[default]
    F64,
}

/// The bin of coordinate `v` on an axis of `size` pixels.
pub fn quantize(v: f64, size: f64, precision: Precision) -> u32 {
    let q = match precision {
        Precision::F64 => (v / (size / BINS as f64)).floor(),
        Precision::F32 => {
            // torch: both operands become float32, the bin size is rounded to float32 first.
            let bin = (size / BINS as f64) as f32;
            ((v as f32) / bin).floor() as f64
        }
    };
    if q.is_nan() {
        return 0;
    }
    q.clamp(0.0, (BINS - 1) as f64) as u32
}

/// The centre of bin `b` on an axis of `size` pixels, computed in float32 as upstream.
pub fn dequantize(b: u32, size: f64) -> f32 {
    let bin = (size / BINS as f64) as f32;
    (b as f32 + 0.5) * bin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float64_and_float32_paths_differ_where_upstream_documents() {
        // upstream.md §2.3: W = 1024, integer x in {128, 256, 384, 512, 768, 896}.
        for (x, f32_bin, f64_bin) in
            [(128.0, 124, 125), (256.0, 249, 250), (384.0, 374, 375), (512.0, 499, 500), (768.0, 749, 750), (896.0, 874, 875)]
        {
            assert_eq!(quantize(x, 1024.0, Precision::F32), f32_bin, "x={x}");
            assert_eq!(quantize(x, 1024.0, Precision::F64), f64_bin, "x={x}");
        }
        assert_eq!(quantize(1024.0, 1024.0, Precision::F32), 999);
        assert_eq!(quantize(400.0, 800.0, Precision::F32), quantize(400.0, 800.0, Precision::F64));
    }

    #[test]
    fn clamps_outside_the_image() {
        assert_eq!(quantize(-5.0, 1024.0, Precision::F64), 0);
        assert_eq!(quantize(2000.0, 1024.0, Precision::F64), 999);
        assert_eq!(quantize(f64::NAN, 1024.0, Precision::F64), 0);
    }

    #[test]
    fn dequantize_matches_worked_example() {
        // upstream.md §2.4 prints bins 292, 48 at 1024 as 299.52, 49.664; the exact float32 values
        // below come from torch 2.11: `((torch.tensor([292, 48, 135]) + 0.5) * (1024 / 1000)).tolist()`.
        assert_eq!(dequantize(292, 1024.0), 299.52001953125f32);
        assert_eq!(dequantize(48, 1024.0), 49.66400146484375f32);
        assert_eq!(dequantize(135, 1024.0), 138.75201416015625f32);
    }
}
