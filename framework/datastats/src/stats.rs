//! The numbers: images, objects per class, objects per image, box sides and angles of the
//! minimum-area rectangles (mmrotate's le90: long side first, angle in [-90°, 90°)), and
//! optionally tokens per response.

use lmmrotate_abi::{ClassTable, Sample};
use lmmrotate_geometry::{AngleConvention, RBox};
use serde::Serialize;

/// Histogram resolution.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsOptions {
    pub bins: usize,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions { bins: 24 }
    }
}

/// Equal-width bins over `[lo, hi)`; the last bin also holds `hi`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    /// `values` binned into `bins` equal bins over `[lo, hi]`; values outside are clamped.
    pub fn new(values: &[f64], lo: f64, hi: f64, bins: usize) -> Self {
        let bins = bins.max(1);
        let mut counts = vec![0u64; bins];
        let width = (hi - lo) / bins as f64;
        for &v in values {
            let i = if width > 0.0 { ((v - lo) / width).floor() } else { 0.0 };
            counts[(i.max(0.0) as usize).min(bins - 1)] += 1;
        }
        Histogram { lo, hi, counts }
    }

    /// Bins of whole units starting at 0, so that each bin is a range of integers.
    pub fn integers(values: &[f64], bins: usize) -> Self {
        let max = values.iter().copied().fold(0.0, f64::max);
        let width = ((max + 1.0) / bins.max(1) as f64).ceil().max(1.0);
        let bins = ((max + 1.0) / width).ceil() as usize;
        Histogram::new(values, 0.0, width * bins as f64, bins)
    }

    /// Lower edge of bin `i`.
    pub fn edge(&self, i: usize) -> f64 {
        self.lo + (self.hi - self.lo) * i as f64 / self.counts.len() as f64
    }
}

/// Summary and histogram of one quantity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Distribution {
    pub count: usize,
    pub min: f64,
    pub mean: f64,
    pub max: f64,
    pub histogram: Histogram,
}

impl Distribution {
    fn new(values: &[f64], histogram: Histogram) -> Self {
        let count = values.len();
        if count == 0 {
            return Distribution { count, min: 0.0, mean: 0.0, max: 0.0, histogram };
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = values.iter().sum::<f64>() / count as f64;
        Distribution { count, min, mean, max, histogram }
    }

    /// Counts of whole numbers (objects per image, tokens).
    pub fn of_integers(values: &[f64], bins: usize) -> Self {
        Distribution::new(values, Histogram::integers(values, bins))
    }

    /// Values over `[lo, hi]`; `hi = None` takes the largest value.
    pub fn of_values(values: &[f64], lo: f64, hi: Option<f64>, bins: usize) -> Self {
        let hi = hi.unwrap_or_else(|| values.iter().copied().fold(lo, f64::max)).max(lo + 1.0);
        Distribution::new(values, Histogram::new(values, lo, hi, bins))
    }
}

/// Objects of one class and the images that have at least one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    pub name: String,
    pub objects: u64,
    pub images: u64,
}

/// Everything `data stats` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DataStats {
    pub images: usize,
    pub empty_images: usize,
    pub objects: usize,
    /// In class-table order; ids outside the table are appended as `#<id>`.
    pub classes: Vec<ClassStats>,
    pub objects_per_image: Distribution,
    /// Shorter side of each object's minimum-area rectangle, in pixels.
    pub short_side: Distribution,
    /// Longer side, in pixels.
    pub long_side: Distribution,
    /// Direction of the longer side in degrees, [-90, 90), y pointing down (le90).
    pub angle: Distribution,
    /// Tokens per training response, when the caller adds them with [`DataStats::with_tokens`].
    pub tokens: Option<Distribution>,
}

/// Statistics of `samples` with class names from `classes`.
pub fn compute(samples: &[Sample], classes: &ClassTable, opts: &StatsOptions) -> DataStats {
    let mut per_class: Vec<ClassStats> =
        classes.names.iter().map(|n| ClassStats { name: n.to_string(), objects: 0, images: 0 }).collect();
    let (mut per_image, mut short, mut long, mut angle) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in samples {
        per_image.push(s.objects.len() as f64);
        let mut seen = vec![false; per_class.len()];
        for o in s.objects.iter() {
            let id = o.class_id as usize;
            while per_class.len() <= id {
                // An id beyond the table: shown by number rather than dropped.
                per_class.push(ClassStats { name: format!("#{}", per_class.len()), objects: 0, images: 0 });
                seen.push(false);
            }
            per_class[id].objects += 1;
            if !seen[id] {
                seen[id] = true;
                per_class[id].images += 1;
            }
            let r = RBox::from_quad(&o.quad.pts, AngleConvention::Le90);
            short.push(r.h);
            long.push(r.w);
            angle.push(r.angle.to_degrees());
        }
    }
    let bins = opts.bins;
    DataStats {
        images: samples.len(),
        empty_images: samples.iter().filter(|s| s.objects.is_empty()).count(),
        objects: long.len(),
        classes: per_class,
        objects_per_image: Distribution::of_integers(&per_image, bins),
        short_side: Distribution::of_values(&short, 0.0, None, bins),
        long_side: Distribution::of_values(&long, 0.0, None, bins),
        angle: Distribution::of_values(&angle, -90.0, Some(90.0), bins),
        tokens: None,
    }
}

impl DataStats {
    /// Adds the token counts of each sample's response (the host counts them with a format
    /// and a model's tokenizer).
    pub fn with_tokens(mut self, counts: &[u32], opts: &StatsOptions) -> Self {
        let v: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
        self.tokens = Some(Distribution::of_integers(&v, opts.bins));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmmrotate_abi::{ImageMeta, Object, Quad};

    pub(crate) fn sample(id: &str, objects: &[(u32, [f32; 8])]) -> Sample {
        Sample {
            image: ImageMeta { id: id.into(), path: format!("{id}.png").into(), width: 100, height: 100 },
            objects: objects.iter().map(|&(c, q)| Object { quad: Quad::new(q), class_id: c, difficulty: 0 }).collect(),
        }
    }

    #[test]
    fn counts_sizes_and_angles() {
        let classes = ClassTable::from_names(&["plane", "ship"]);
        let samples = [
            // 10 x 4 axis-aligned, and the same box standing upright (long side along y).
            sample("a", &[(0, [0., 0., 10., 0., 10., 4., 0., 4.]), (0, [0., 0., 4., 0., 4., 10., 0., 10.])]),
            sample("b", &[]),
            sample("c", &[(1, [0., 0., 6., 0., 6., 2., 0., 2.]), (3, [0., 0., 2., 0., 2., 2., 0., 2.])]),
        ];
        let s = compute(&samples, &classes, &StatsOptions::default());
        assert_eq!((s.images, s.empty_images, s.objects), (3, 1, 4));
        let counts: Vec<(&str, u64, u64)> = s.classes.iter().map(|c| (c.name.as_str(), c.objects, c.images)).collect();
        assert_eq!(counts, [("plane", 2, 1), ("ship", 1, 1), ("#2", 0, 0), ("#3", 1, 1)]);
        assert_eq!((s.objects_per_image.min, s.objects_per_image.max), (0.0, 2.0));
        assert!((s.objects_per_image.mean - 4.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.objects_per_image.histogram.counts, [1, 0, 2]);
        assert!((s.long_side.max - 10.0).abs() < 1e-9 && (s.short_side.min - 2.0).abs() < 1e-9);
        let angles: u64 = s.angle.histogram.counts.iter().sum();
        assert_eq!(angles, 4);
        // Horizontal boxes (and the square, turned as mmrotate regularises it) at 0°, the upright
        // one at -90° (the first bin).
        assert_eq!(s.angle.histogram.counts[0], 1);
        assert_eq!(s.angle.histogram.counts[12], 3);
        let t = s.with_tokens(&[5, 7, 30], &StatsOptions { bins: 4 });
        let tok = t.tokens.unwrap();
        assert_eq!((tok.max, tok.histogram.counts.iter().sum::<u64>()), (30.0, 3));
    }

    #[test]
    fn histogram_edges_clamp_and_empty_input() {
        let h = Histogram::new(&[-1.0, 0.0, 5.0, 9.99, 10.0, 11.0], 0.0, 10.0, 2);
        assert_eq!(h.counts, [2, 4]);
        assert_eq!(h.edge(1), 5.0);
        let d = Distribution::of_values(&[], 0.0, None, 4);
        assert_eq!((d.count, d.max, d.histogram.counts.len()), (0, 0.0, 4));
        assert_eq!(Histogram::integers(&[0.0, 100.0], 10).counts.len(), 10);
    }
}
