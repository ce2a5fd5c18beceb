//! Exact IoU of rotated rectangles by convex polygon clipping, and IoU matrices computed in
//! parallel. Replaces mmcv's `box_iou_rotated`, computed in f64 instead of f32.

use crate::polygon::{clip_half_plane, edge_side, signed_area, Point};
use crate::rbox::RBox;
use rayon::prelude::*;
use std::cmp::Ordering;

/// A rotated box with its corners, bounding window and area computed once, for IoU loops.
#[derive(Clone, Debug)]
pub struct PreparedBox {
    rbox: RBox,
    corners: [Point; 4],
    /// +1 or -1: orientation of `corners`, so that clipping knows which side is inside.
    orient: f64,
    aabb: [f64; 4],
    area: f64,
}

impl PreparedBox {
    pub fn new(rbox: &RBox) -> Self {
        let corners = rbox.corners();
        let area = rbox.area();
        let mut aabb = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for p in &corners {
            aabb[0] = aabb[0].min(p[0]);
            aabb[1] = aabb[1].min(p[1]);
            aabb[2] = aabb[2].max(p[0]);
            aabb[3] = aabb[3].max(p[1]);
        }
        let orient = if signed_area(&corners) >= 0.0 { 1.0 } else { -1.0 };
        PreparedBox { rbox: *rbox, corners, orient, aabb, area }
    }

    pub fn rbox(&self) -> &RBox {
        &self.rbox
    }

    /// Area used for IoU: 0 for a degenerate (zero, negative or non-finite side) box.
    pub fn area(&self) -> f64 {
        self.area
    }

    /// IoU with `other`, in `[0, 1]`, exactly symmetric, never NaN; 0 when either box is
    /// degenerate.
    pub fn iou(&self, other: &PreparedBox) -> f64 {
        // Clipping is not bit-for-bit symmetric in floating point, so always clip the "smaller"
        // box (by a total order on the parameters) by the other one.
        let (a, b) = match cmp_rbox(&self.rbox, &other.rbox) {
            Ordering::Greater => (other, self),
            Ordering::Equal => return if self.area > 0.0 { 1.0 } else { 0.0 },
            Ordering::Less => (self, other),
        };
        if a.area <= 0.0 || b.area <= 0.0 {
            return 0.0;
        }
        if a.aabb[0] >= b.aabb[2] || b.aabb[0] >= a.aabb[2] || a.aabb[1] >= b.aabb[3] || b.aabb[1] >= a.aabb[3] {
            return 0.0;
        }
        let inter = clip_area(&a.corners, &b.corners, b.orient).min(a.area).min(b.area);
        let union = a.area + b.area - inter;
        let iou = inter / union;
        if iou.is_finite() {
            iou.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

fn cmp_rbox(a: &RBox, b: &RBox) -> Ordering {
    a.cx.total_cmp(&b.cx)
        .then(a.cy.total_cmp(&b.cy))
        .then(a.w.total_cmp(&b.w))
        .then(a.h.total_cmp(&b.h))
        .then(a.angle.total_cmp(&b.angle))
}

/// Room for a quadrilateral clipped by four half-planes: each pass can at most double the vertex
/// count (each input vertex emits itself and one crossing), so 4 · 2⁴ always fits.
const CAP: usize = 64;

/// Area of `subject ∩ clip` for two convex quadrilaterals, without allocating.
fn clip_area(subject: &[Point; 4], clip: &[Point; 4], orient: f64) -> f64 {
    let mut buf_a = [[0.0f64; 2]; CAP];
    let mut buf_b = [[0.0f64; 2]; CAP];
    buf_a[..4].copy_from_slice(subject);
    let mut len = 4;
    for i in 0..4 {
        let side = edge_side(clip[i], clip[(i + 1) % 4], orient);
        let mut n = 0;
        clip_half_plane(&buf_a[..len], side, |p| {
            buf_b[n] = p;
            n += 1;
        });
        if n < 3 {
            return 0.0;
        }
        std::mem::swap(&mut buf_a, &mut buf_b);
        len = n;
    }
    signed_area(&buf_a[..len]).abs()
}

/// IoU of two rotated boxes (see [`PreparedBox::iou`]).
pub fn rotated_iou(a: &RBox, b: &RBox) -> f64 {
    PreparedBox::new(a).iou(&PreparedBox::new(b))
}

/// A dense `rows x cols` matrix of IoUs, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct IouMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl IouMatrix {
    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.data[row * self.cols + col]
    }

    pub fn row(&self, row: usize) -> &[f64] {
        &self.data[row * self.cols..(row + 1) * self.cols]
    }
}

/// IoU of every box in `a` (rows) with every box in `b` (columns), rows computed in parallel.
pub fn iou_matrix(a: &[RBox], b: &[RBox]) -> IouMatrix {
    let pa: Vec<PreparedBox> = a.par_iter().map(PreparedBox::new).collect();
    let pb: Vec<PreparedBox> = b.par_iter().map(PreparedBox::new).collect();
    let mut data = vec![0.0; a.len() * b.len()];
    if !b.is_empty() {
        data.par_chunks_mut(b.len()).zip(pa.par_iter()).for_each(|(row, x)| {
            for (cell, y) in row.iter_mut().zip(&pb) {
                *cell = x.iou(y);
            }
        });
    }
    IouMatrix { rows: a.len(), cols: b.len(), data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn hand_computed_overlaps() {
        // Two 2x2 squares shifted by (1, 1): inter 1, union 7.
        let a = RBox::new(1.0, 1.0, 2.0, 2.0, 0.0);
        let b = RBox::new(2.0, 2.0, 2.0, 2.0, 0.0);
        assert!(close(rotated_iou(&a, &b), 1.0 / 7.0));
        // Shifted by 1 along x: inter 2, union 6.
        assert!(close(rotated_iou(&a, &RBox::new(2.0, 1.0, 2.0, 2.0, 0.0)), 1.0 / 3.0));
        // A 4x1 bar and the same bar turned 90° about the same centre: a 1x1 cross, 1 / 7.
        let h = RBox::new(0.0, 0.0, 4.0, 1.0, 0.0);
        let v = RBox::new(0.0, 0.0, 4.0, 1.0, FRAC_PI_2);
        assert!(close(rotated_iou(&h, &v), 1.0 / 7.0));
        // A unit square and itself turned 45°: the overlap is a regular octagon of area
        // 2(√2 - 1) (side √2 - 1), union 2 - 2(√2 - 1).
        let s = RBox::new(0.0, 0.0, 1.0, 1.0, 0.0);
        let d = RBox::new(0.0, 0.0, 1.0, 1.0, FRAC_PI_4);
        let oct = 2.0 * (2f64.sqrt() - 1.0);
        assert!(close(rotated_iou(&s, &d), oct / (2.0 - oct)));
        // A box inside another: 1x1 in 2x2, IoU 1/4.
        assert!(close(rotated_iou(&RBox::new(1.0, 1.0, 1.0, 1.0, 0.3), &a), 0.25));
        // Touching edges only and far apart: 0.
        assert_eq!(rotated_iou(&a, &RBox::new(3.0, 1.0, 2.0, 2.0, 0.0)), 0.0);
        assert_eq!(rotated_iou(&a, &RBox::new(100.0, 1.0, 2.0, 2.0, 0.7)), 0.0);
    }

    #[test]
    fn identical_and_equivalent_boxes() {
        let a = RBox::new(10.0, 20.0, 30.0, 5.0, 0.4);
        assert_eq!(rotated_iou(&a, &a), 1.0);
        // The same rectangle under a different parameterisation (w/h swapped, angle + 90°).
        let b = RBox::new(10.0, 20.0, 5.0, 30.0, 0.4 + FRAC_PI_2);
        assert!((rotated_iou(&a, &b) - 1.0).abs() < 1e-12);
        let c = RBox::new(10.0, 20.0, 30.0, 5.0, 0.4 + PI);
        assert!((rotated_iou(&a, &c) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_boxes_give_zero() {
        let a = RBox::new(0.0, 0.0, 2.0, 2.0, 0.0);
        for d in [
            RBox::new(0.0, 0.0, 0.0, 2.0, 0.0),
            RBox::new(0.0, 0.0, 0.0, 0.0, 0.0),
            RBox::new(0.0, 0.0, -2.0, 2.0, 0.0),
            RBox::new(f64::NAN, 0.0, 2.0, 2.0, 0.0),
            RBox::new(0.0, 0.0, f64::INFINITY, 2.0, 0.0),
        ] {
            assert_eq!(rotated_iou(&a, &d), 0.0, "{d:?}");
            assert_eq!(rotated_iou(&d, &a), 0.0, "{d:?}");
            assert_eq!(rotated_iou(&d, &d), 0.0, "{d:?}");
        }
    }

    #[test]
    fn nearly_parallel_boxes() {
        let a = RBox::new(0.0, 0.0, 100.0, 10.0, 0.0);
        for eps in [1e-15, 1e-12, 1e-9, 1e-6] {
            let b = RBox::new(0.0, 0.0, 100.0, 10.0, eps);
            let iou = rotated_iou(&a, &b);
            assert!(iou > 0.999 && iou <= 1.0, "eps={eps} iou={iou}");
            // Half-shifted along the long axis: inter 50 x 10 of union 1500 → 1/3.
            let c = RBox::new(50.0, 0.0, 100.0, 10.0, eps);
            assert!((rotated_iou(&a, &c) - 1.0 / 3.0).abs() < 1e-4, "eps={eps}");
        }
    }

    #[test]
    fn matrix_matches_pairwise() {
        let a = [RBox::new(1.0, 1.0, 2.0, 2.0, 0.0), RBox::new(5.0, 5.0, 2.0, 1.0, 0.2)];
        let b = [
            RBox::new(2.0, 2.0, 2.0, 2.0, 0.0),
            RBox::new(1.0, 1.0, 2.0, 2.0, 0.0),
            RBox::new(5.0, 5.0, 1.0, 1.0, 0.0),
        ];
        let m = iou_matrix(&a, &b);
        assert_eq!((m.rows, m.cols), (2, 3));
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                assert_eq!(m.get(i, j), rotated_iou(x, y));
            }
        }
        assert_eq!(m.get(0, 1), 1.0);
        assert!(iou_matrix(&a, &[]).data.is_empty());
    }

    fn arb_box() -> impl Strategy<Value = RBox> {
        (-50.0..50.0f64, -50.0..50.0f64, 0.5..40.0f64, 0.5..40.0f64, -4.0..4.0f64)
            .prop_map(|(cx, cy, w, h, a)| RBox::new(cx, cy, w, h, a))
    }

    fn rotate(b: &RBox, t: f64) -> RBox {
        let (s, c) = t.sin_cos();
        RBox::new(b.cx * c - b.cy * s, b.cx * s + b.cy * c, b.w, b.h, b.angle + t)
    }

    proptest! {
        #[test]
        fn iou_properties(a in arb_box(), b in arb_box(), dx in -500.0..500.0f64, dy in -500.0..500.0f64, t in -4.0..4.0f64) {
            let ab = rotated_iou(&a, &b);
            prop_assert!((0.0..=1.0).contains(&ab));
            prop_assert_eq!(ab, rotated_iou(&b, &a));
            prop_assert_eq!(rotated_iou(&a, &a), 1.0);
            let shift = |r: &RBox| RBox::new(r.cx + dx, r.cy + dy, r.w, r.h, r.angle);
            prop_assert!((rotated_iou(&shift(&a), &shift(&b)) - ab).abs() < 1e-9);
            prop_assert!((rotated_iou(&rotate(&a, t), &rotate(&b, t)) - ab).abs() < 1e-9);
            // Overlap is bounded by the smaller box: IoU <= min area / max area.
            let (x, y) = (a.area().min(b.area()), a.area().max(b.area()));
            prop_assert!(ab <= x / y + 1e-12);
        }
    }
}
