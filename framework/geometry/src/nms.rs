//! Rotated non-maximum suppression, as mmcv's `nms_rotated` used by mmrotate's patch merging.

use crate::iou::PreparedBox;
use crate::rbox::RBox;

/// Indices of the boxes kept by greedy NMS, in descending score order. A box is suppressed when
/// its IoU with an already kept box is `>= iou_thr` (mmcv's CPU kernel compares with `>=`).
/// Equal scores keep their input order (a stable sort; mmcv's order for ties is unspecified).
/// `scores` must be as long as `boxes`; NaN scores sort last.
pub fn nms_rotated(boxes: &[RBox], scores: &[f32], iou_thr: f64) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "nms_rotated: one score per box");
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&i, &j| {
        let (a, b) = (scores[i], scores[j]);
        match (a.is_nan(), b.is_nan()) {
            (false, false) => b.total_cmp(&a),
            (x, y) => x.cmp(&y),
        }
    });
    let prepared: Vec<PreparedBox> = boxes.iter().map(PreparedBox::new).collect();
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep.iter().all(|&k| prepared[k].iou(&prepared[i]) < iou_thr) {
            keep.push(i);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppresses_overlaps_and_keeps_score_order() {
        let boxes = [
            RBox::new(0.0, 0.0, 10.0, 10.0, 0.0),
            RBox::new(1.0, 0.0, 10.0, 10.0, 0.0),  // IoU 90/110 with box 0
            RBox::new(50.0, 0.0, 10.0, 10.0, 0.0), // far away
            RBox::new(10.0, 0.0, 10.0, 10.0, 0.0), // IoU 10/190 ≈ 0.053 with box 1
        ];
        assert_eq!(nms_rotated(&boxes, &[0.5, 0.9, 0.7, 0.1], 0.1), vec![1, 2, 3]);
        assert_eq!(nms_rotated(&boxes, &[0.5, 0.9, 0.7, 0.1], 0.05), vec![1, 2]);
        // Ties keep input order.
        assert_eq!(nms_rotated(&boxes, &[1.0; 4], 0.1), vec![0, 2, 3]);
        assert_eq!(nms_rotated(&boxes, &[f32::NAN, 1.0, 1.0, 1.0], 0.1), vec![1, 2, 3]);
        assert!(nms_rotated(&[], &[], 0.1).is_empty());
    }
}
