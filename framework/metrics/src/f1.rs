//! LMMRotate's mF1 (`lmmrotate/modules/f1_metric.py`): a confusion matrix with a background row
//! and column, macro precision and recall over all its diagonal entries, and their harmonic mean.
//!
//! One deliberate difference: `C` is the number of classes of the dataset's class table.
//! Upstream takes `C` = the largest ground-truth label of the evaluated images + 1, so a class
//! that has no ground truth there counts (with precision and recall 0) when its id is below that
//! label and not at all when above; and a detection of the class one id above it is counted in
//! the background entry itself (giving that entry a non-zero precision), one further above
//! crashes the script. With every class present — DOTA's, DIOR's and
//! FAIR1M's full evaluation splits — both give the same number; on subsets (`--clip_num`, small
//! splits) they can differ, and lmmrotate's does not depend on which classes happen to be there.

use serde::Serialize;

/// `(C+1) x (C+1)` counts: rows are ground-truth classes, columns predicted classes; the last
/// row is "background" (a detection that hit no ground truth) and the last column "missed" (a
/// ground truth that no detection of its class reached).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix { classes, counts: vec![0; (classes + 1) * (classes + 1)] }
    }

    /// Number of real classes `C` (the matrix is `C+1` square).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Index of the background row / missed column.
    pub fn background(&self) -> usize {
        self.classes
    }

    pub fn get(&self, gt: usize, pred: usize) -> u64 {
        self.counts[gt * (self.classes + 1) + pred]
    }

    pub fn add(&mut self, gt: usize, pred: usize, n: u64) {
        self.counts[gt * (self.classes + 1) + pred] += n;
    }

    /// Element-wise sum (for parallel reduction).
    pub fn merge(mut self, other: &ConfusionMatrix) -> Self {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self
    }

    /// Rows as nested vectors, for the JSON report.
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts.chunks(self.classes + 1).map(<[u64]>::to_vec).collect()
    }

    /// Per-entry `(precision, recall)` for entries `0..=C`: `TP = diag`, `FP = column sum - TP`,
    /// `FN = row sum - TP`, zero denominators replaced by 1 (upstream's `safe`).
    pub fn per_class(&self) -> Vec<(f64, f64)> {
        let k = self.classes + 1;
        (0..k)
            .map(|i| {
                let tp = self.get(i, i) as f64;
                let col: u64 = (0..k).map(|r| self.get(r, i)).sum();
                let row: u64 = (0..k).map(|c| self.get(i, c)).sum();
                let safe = |x: f64| if x == 0.0 { 1.0 } else { x };
                // tp + fp = column sum, tp + fn = row sum
                (tp / safe(col as f64), tp / safe(row as f64))
            })
            .collect()
    }
}

/// Macro precision, recall and their harmonic mean.
#[derive(Copy, Clone, Debug, PartialEq, Serialize)]
pub struct F1Summary {
    pub mean_precision: f64,
    pub mean_recall: f64,
    pub f1: f64,
}

impl F1Summary {
    /// Upstream's numbers: the mean runs over all `C+1` entries, background included (whose
    /// precision and recall are always 0, so this deflates both by about `C/(C+1)`).
    pub fn with_background(cm: &ConfusionMatrix) -> Self {
        Self::from_entries(&cm.per_class())
    }

    /// The same over the `C` real classes only.
    pub fn without_background(cm: &ConfusionMatrix) -> Self {
        Self::from_entries(&cm.per_class()[..cm.classes()])
    }

    /// F1 is 0 where both means are 0 (upstream divides 0 by 0 and reports NaN).
    fn from_entries(pr: &[(f64, f64)]) -> Self {
        let n = pr.len().max(1) as f64;
        let p = pr.iter().map(|x| x.0).sum::<f64>() / n;
        let r = pr.iter().map(|x| x.1).sum::<f64>() / n;
        let f1 = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
        F1Summary { mean_precision: p, mean_recall: r, f1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_mini_example_from_counts() {
        // upstream.md §7.2: CM = [[1,0,0],[1,0,1],[0,1,0]].
        let mut cm = ConfusionMatrix::new(2);
        cm.add(0, 0, 1);
        cm.add(1, 0, 1);
        cm.add(1, 2, 1);
        cm.add(2, 1, 1);
        assert_eq!(cm.per_class(), vec![(0.5, 1.0), (0.0, 0.0), (0.0, 0.0)]);
        let s = F1Summary::with_background(&cm);
        assert!((s.mean_precision - 1.0 / 6.0).abs() < 1e-12);
        assert!((s.mean_recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.f1 - 2.0 / 9.0).abs() < 1e-12);
        let s = F1Summary::without_background(&cm);
        assert_eq!((s.mean_precision, s.mean_recall), (0.25, 0.5));
        assert!((s.f1 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(F1Summary::with_background(&ConfusionMatrix::new(3)).f1, 0.0);
    }
}
