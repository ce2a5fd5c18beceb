//! Precision/recall curves and average precision, as mmdet's `average_precision` used by
//! mmrotate's `eval_rbbox_map`.

use serde::Serialize;

/// How AP integrates the precision/recall curve.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ApMode {
    /// VOC07: mean over recall thresholds 0, 0.1, …, 1.0 of the best precision at recall >= t
    /// (mmrotate's default `eval_mode='11points'`).
    Points11,
    /// Area under the monotone precision envelope (VOC2010+).
    Area,
}

/// Outcome of one ranked detection after greedy matching.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Tp,
    Fp,
    /// Matched an ignored ground truth: neither TP nor FP, but still a point on the curve (as
    /// upstream, whose cumulative sums keep the zero entries).
    Neither,
}

/// Cumulative recall and precision along a ranking; `num_gts` is the class's ground-truth count.
/// Precision is `tp / max(tp + fp, eps)` and recall `tp / max(num_gts, eps)` with float32's eps,
/// as upstream.
pub(crate) fn curve(outcomes: impl Iterator<Item = Outcome>, num_gts: usize) -> (Vec<f64>, Vec<f64>) {
    let eps = f32::EPSILON as f64;
    let (mut tp, mut fp) = (0u64, 0u64);
    let (mut recalls, mut precisions) = (Vec::new(), Vec::new());
    for o in outcomes {
        match o {
            Outcome::Tp => tp += 1,
            Outcome::Fp => fp += 1,
            Outcome::Neither => {}
        }
        recalls.push(tp as f64 / (num_gts as f64).max(eps));
        precisions.push(tp as f64 / ((tp + fp) as f64).max(eps));
    }
    (recalls, precisions)
}

/// AP of a precision/recall curve (equal-length slices in ranking order).
pub fn average_precision(recalls: &[f64], precisions: &[f64], mode: ApMode) -> f64 {
    assert_eq!(recalls.len(), precisions.len(), "average_precision: curve lengths differ");
    match mode {
        ApMode::Points11 => {
            // NumPy's `np.arange(0, 1 + 1e-3, 0.1)` is `i * 0.1`: 0.30000000000000004 etc., so a
            // recall of exactly 3/10 does not reach the "0.3" point. Reproduced on purpose.
            let mut ap = 0.0;
            for i in 0..=10 {
                let thr = i as f64 * 0.1;
                let best = recalls
                    .iter()
                    .zip(precisions)
                    .filter(|(r, _)| **r >= thr)
                    .map(|(_, p)| *p)
                    .fold(None, |m: Option<f64>, p| Some(m.map_or(p, |m| m.max(p))));
                ap += best.unwrap_or(0.0);
            }
            ap / 11.0
        }
        ApMode::Area => {
            let n = recalls.len();
            let mut mrec = Vec::with_capacity(n + 2);
            mrec.push(0.0);
            mrec.extend_from_slice(recalls);
            mrec.push(1.0);
            let mut mpre = Vec::with_capacity(n + 2);
            mpre.push(0.0);
            mpre.extend_from_slice(precisions);
            mpre.push(0.0);
            for i in (1..mpre.len()).rev() {
                mpre[i - 1] = mpre[i - 1].max(mpre[i]);
            }
            (0..mrec.len() - 1).filter(|&i| mrec[i + 1] != mrec[i]).map(|i| (mrec[i + 1] - mrec[i]) * mpre[i + 1]).sum()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;
    use super::*;

    #[test]
    fn tiny_ranked_list() {
        // 3 gts; ranking TP FP TP FP: recall .333 .333 .667 .667, precision 1 .5 .667 .5.
        let (r, p) = curve([Tp, Fp, Tp, Fp].into_iter(), 3);
        // 11 points: t = 0..0.3 → 1 (4 points: 0, .1, .2, .30000000000000004 <= 1/3), t = .4..0.6
        // → 2/3 (3 points, the max over the last two entries), t = .7..1 → 0 (4 points).
        let want = (4.0 + 3.0 * (2.0 / 3.0)) / 11.0;
        assert!((average_precision(&r, &p, ApMode::Points11) - want).abs() < 1e-12);
        // area: envelope 1 up to 1/3, 2/3 up to 2/3, then 0: 1/3 + 1/3 · 2/3.
        let want = 1.0 / 3.0 + (1.0 / 3.0) * (2.0 / 3.0);
        assert!((average_precision(&r, &p, ApMode::Area) - want).abs() < 1e-12);
    }

    #[test]
    fn recall_three_tenths_misses_the_point_three_threshold() {
        // 10 gts, 3 TPs at precision 1: recall 0.3 < 0.30000000000000004, so only t = 0, .1, .2
        // count: 3/11 (a naive implementation would give 4/11).
        let (r, p) = curve([Tp, Tp, Tp].into_iter(), 10);
        assert_eq!(r[2], 0.3);
        assert!((average_precision(&r, &p, ApMode::Points11) - 3.0 / 11.0).abs() < 1e-12);
    }

    #[test]
    fn ignored_entries_and_empty_curves() {
        // A leading "neither" gives precision 0 at recall 0; it does not change the AP here.
        let (r, p) = curve([Neither, Tp].into_iter(), 1);
        assert_eq!(p, vec![0.0, 1.0]);
        assert_eq!(average_precision(&r, &p, ApMode::Points11), 1.0);
        assert_eq!(average_precision(&[], &[], ApMode::Points11), 0.0);
        assert_eq!(average_precision(&[], &[], ApMode::Area), 0.0);
        // All FP.
        let (r, p) = curve([Fp, Fp].into_iter(), 2);
        assert_eq!(average_precision(&r, &p, ApMode::Points11), 0.0);
        assert_eq!(average_precision(&r, &p, ApMode::Area), 0.0);
    }
}
