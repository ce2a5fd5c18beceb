//! Value noise and fractal sums of it, for ground, water and asphalt textures.

use crate::rng::mix;

/// Smooth value noise on an integer lattice, seeded; returns values in `[0, 1]`.
#[derive(Clone, Copy, Debug)]
pub struct ValueNoise {
    seed: u64,
}

impl ValueNoise {
    pub fn new(seed: u64) -> Self {
        ValueNoise { seed }
    }

    fn lattice(&self, x: i64, y: i64) -> f32 {
        let h = mix(self.seed ^ (x as u64).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7) ^ (y as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (h >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn at(&self, x: f32, y: f32) -> f32 {
        let (xf, yf) = (x.floor(), y.floor());
        let (xi, yi) = (xf as i64, yf as i64);
        let (tx, ty) = (smooth(x - xf), smooth(y - yf));
        let a = self.lattice(xi, yi);
        let b = self.lattice(xi + 1, yi);
        let c = self.lattice(xi, yi + 1);
        let d = self.lattice(xi + 1, yi + 1);
        let top = a + (b - a) * tx;
        let bottom = c + (d - c) * tx;
        top + (bottom - top) * ty
    }

    /// Fractal sum of `octaves` layers, the first with cells of `cell` pixels; in `[0, 1]`.
    pub fn fbm(&self, x: f32, y: f32, cell: f32, octaves: u32) -> f32 {
        let (mut sum, mut amp, mut norm, mut f) = (0.0, 1.0, 0.0, 1.0 / cell);
        for o in 0..octaves {
            // Offset each octave so that lattice points do not line up across octaves.
            let off = o as f32 * 17.31;
            sum += amp * self.at(x * f + off, y * f - off);
            norm += amp;
            amp *= 0.5;
            f *= 2.0;
        }
        sum / norm
    }
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_bounded_continuous_and_seeded() {
        let n = ValueNoise::new(3);
        for i in 0..200 {
            let (x, y) = (i as f32 * 0.37, i as f32 * 0.91);
            let v = n.fbm(x, y, 16.0, 4);
            assert!((0.0..=1.0).contains(&v));
            assert!((n.at(x, y) - n.at(x + 1e-3, y)).abs() < 1e-2);
        }
        assert_ne!(n.at(2.5, 3.5), ValueNoise::new(4).at(2.5, 3.5));
    }
}
