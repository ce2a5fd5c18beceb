//! Rotated boxes `(cx, cy, w, h, angle)` and their conversion from / to quadrilaterals, including
//! the minimum-area rectangle that upstream (`cv2.minAreaRect` in mmrotate's `qbox2rbox`) puts
//! around every ground truth and prediction before computing IoU.

use crate::polygon::{convex_hull, Point};
use std::f64::consts::{FRAC_PI_2, PI};

/// A quadrilateral `x1 y1 x2 y2 x3 y3 x4 y4` in image pixels.
pub type Quad = [f32; 8];

/// How the angle and the width/height roles of a [`RBox`] are normalised. Every convention
/// describes the same rectangle; only the parameters differ.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AngleConvention {
    /// OpenCV 4.5.1..4.12 `minAreaRect` (mmrotate "oc"): angle in `(0, π/2]`, the width is the
    /// side along `(cos θ, sin θ)`. An axis-aligned `W x H` rectangle becomes `w = H, h = W,
    /// θ = π/2`. (OpenCV 4.13 and 5 moved to `[-π/2, 0)`.) [`min_area_rect`] lists the degenerate
    /// cases where cv2 leaves this range.
    OpenCv,
    /// mmrotate "le90": angle in `[-π/2, π/2)` and `w > h`; a square gets its angle shifted by
    /// `π/2` like mmrotate's `regularize_rboxes(width_longer=True)`.
    Le90,
}

/// A rotated rectangle: centre, side lengths and angle in radians. In the y-down image frame a
/// positive angle turns the width direction clockwise on screen.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct RBox {
    pub cx: f64,
    pub cy: f64,
    pub w: f64,
    pub h: f64,
    pub angle: f64,
}

impl RBox {
    pub fn new(cx: f64, cy: f64, w: f64, h: f64, angle: f64) -> Self {
        RBox { cx, cy, w, h, angle }
    }

    /// The minimum-area rectangle around the four points of `quad`, in `convention`.
    /// Any quadrilateral (even a non-convex or self-crossing one) is replaced by its enclosing
    /// rectangle, as upstream does. With [`AngleConvention::OpenCv`] this is [`min_area_rect`]
    /// unchanged, degenerate angles included, so that it is what cv2 returns.
    pub fn from_quad(quad: &Quad, convention: AngleConvention) -> Self {
        let pts: [Point; 4] = std::array::from_fn(|i| [quad[2 * i] as f64, quad[2 * i + 1] as f64]);
        let r = min_area_rect(&pts);
        match convention {
            AngleConvention::OpenCv => r,
            AngleConvention::Le90 => r.regularize(convention),
        }
    }

    /// `w * h`; 0 for a degenerate box (a side that is not positive, or any non-finite value).
    pub fn area(&self) -> f64 {
        let a = self.w * self.h;
        let finite = self.cx.is_finite() && self.cy.is_finite() && self.angle.is_finite();
        if finite && a.is_finite() && self.w > 0.0 && self.h > 0.0 {
            a
        } else {
            0.0
        }
    }

    /// Corners in mmrotate's `rbox2qbox` order: `c + v1 + v2, c + v1 - v2, c - v1 - v2, c - v1 + v2`
    /// with `v1 = w/2 (cos θ, sin θ)` and `v2 = h/2 (-sin θ, cos θ)`.
    pub fn corners(&self) -> [Point; 4] {
        let (s, c) = self.angle.sin_cos();
        let v1 = [self.w * 0.5 * c, self.w * 0.5 * s];
        let v2 = [-self.h * 0.5 * s, self.h * 0.5 * c];
        let (x, y) = (self.cx, self.cy);
        [
            [x + v1[0] + v2[0], y + v1[1] + v2[1]],
            [x + v1[0] - v2[0], y + v1[1] - v2[1]],
            [x - v1[0] - v2[0], y - v1[1] - v2[1]],
            [x - v1[0] + v2[0], y - v1[1] + v2[1]],
        ]
    }

    /// The corners as a [`Quad`] (see [`RBox::corners`] for the order).
    pub fn to_quad(&self) -> Quad {
        let c = self.corners();
        std::array::from_fn(|i| c[i / 2][i % 2] as f32)
    }

    /// The same rectangle expressed in `convention`.
    pub fn regularize(self, convention: AngleConvention) -> Self {
        match convention {
            AngleConvention::OpenCv => {
                let (s, c) = self.angle.sin_cos();
                let (w, h, [ux, uy]) = to_opencv_quadrant(self.w, self.h, [c, s]);
                RBox { w, h, angle: uy.atan2(ux), ..self }
            }
            AngleConvention::Le90 => {
                // mmrotate regularize_rboxes: swap unless w > h, then wrap into [-π/2, π/2).
                let (w, h, t) = if self.w > self.h {
                    (self.w, self.h, self.angle)
                } else {
                    (self.h, self.w, self.angle + FRAC_PI_2)
                };
                let t = (t + FRAC_PI_2).rem_euclid(PI) - FRAC_PI_2;
                // rem_euclid can round up to exactly π for tiny negative inputs.
                let t = if t >= FRAC_PI_2 { -FRAC_PI_2 } else { t };
                RBox { w, h, angle: t, ..self }
            }
        }
    }
}

/// Turns the width direction `u` by quarter turns (exact sign swaps, no trigonometry) until it lies
/// in OpenCV's quadrant `u.x >= 0, u.y > 0`, i.e. angle in `(0, π/2]`; every quarter turn
/// exchanges the roles of width and height.
fn to_opencv_quadrant(mut w: f64, mut h: f64, mut u: Point) -> (f64, f64, Point) {
    for _ in 0..4 {
        if u[0] >= 0.0 && u[1] > 0.0 {
            break;
        }
        u = [-u[1], u[0]];
        std::mem::swap(&mut w, &mut h);
    }
    (w, h, u)
}

/// Minimum-area enclosing rectangle of `points`, in the [`AngleConvention::OpenCv`] convention,
/// like `cv2.minAreaRect` of OpenCV 4.5.1..4.12 (checked against 4.12 by
/// `tests/min_area_rect_cv2.rs`).
///
/// One side of the optimal rectangle lies on a convex-hull edge (the rotating-calipers argument),
/// so every hull edge is tried; among equal areas the first edge in hull order wins. Computed in
/// f64 where OpenCV uses f32, so sides and angles agree to float32 precision. One known
/// difference: when the optimum is axis-aligned but the points are not a rectangle, cv2 reports
/// `θ = 0` or `θ = π/2` depending on its hull's start and the calipers' tie order; this always
/// gives `π/2` (the same rectangle with `w` and `h` exchanged).
///
/// Degenerate input gets cv2's answer, outside `(0, π/2]`: for collinear points the segment
/// between the extreme points, `w` = its length, `h = 0`, θ = the direction from the
/// lexicographically (x, then y) largest point to the smallest, in `(-π, π]`; for a single point
/// `w = h = 0, θ = 0`. Such boxes have IoU 0 with everything. Non-finite points are ignored.
pub fn min_area_rect(points: &[Point]) -> RBox {
    let hull = convex_hull(points);
    match hull.len() {
        0 => RBox::new(0.0, 0.0, 0.0, 0.0, 0.0),
        1 => RBox::new(hull[0][0], hull[0][1], 0.0, 0.0, 0.0),
        // convex_hull sorts lexicographically, so a segment comes as [smallest, largest].
        2 => {
            let ([x0, y0], [x1, y1]) = (hull[0], hull[1]);
            let (dx, dy) = (x0 - x1, y0 - y1);
            RBox::new((x0 + x1) * 0.5, (y0 + y1) * 0.5, dx.hypot(dy), 0.0, dy.atan2(dx))
        }
        _ => {
            let mut best: Option<(f64, RBox)> = None;
            let n = hull.len();
            for i in 0..n {
                let (p, q) = (hull[i], hull[(i + 1) % n]);
                let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
                let len = dx.hypot(dy);
                if len == 0.0 {
                    continue;
                }
                let u = [dx / len, dy / len];
                let v = [-u[1], u[0]];
                let (mut umin, mut umax, mut vmin, mut vmax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
                for pt in &hull {
                    let a = pt[0] * u[0] + pt[1] * u[1];
                    let b = pt[0] * v[0] + pt[1] * v[1];
                    umin = umin.min(a);
                    umax = umax.max(a);
                    vmin = vmin.min(b);
                    vmax = vmax.max(b);
                }
                let (w, h) = (umax - umin, vmax - vmin);
                let area = w * h;
                if best.as_ref().is_some_and(|(a, _)| area >= *a) {
                    continue;
                }
                let (cu, cv) = ((umin + umax) * 0.5, (vmin + vmax) * 0.5);
                let (cx, cy) = (cu * u[0] + cv * v[0], cu * u[1] + cv * v[1]);
                let (w, h, ud) = to_opencv_quadrant(w, h, u);
                best = Some((area, RBox::new(cx, cy, w, h, ud[1].atan2(ud[0]))));
            }
            best.map(|(_, b)| b).unwrap_or(RBox::new(hull[0][0], hull[0][1], 0.0, 0.0, 0.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn assert_rbox(got: RBox, want: RBox, tol: f64) {
        let ok = close(got.cx, want.cx, tol)
            && close(got.cy, want.cy, tol)
            && close(got.w, want.w, tol)
            && close(got.h, want.h, tol)
            && close(got.angle, want.angle, tol);
        assert!(ok, "got {got:?}, want {want:?}");
    }

    #[test]
    fn axis_aligned_rectangle_in_opencv_convention() {
        // cv2.minAreaRect([[0,0],[10,0],[10,5],[0,5]]) == ((5, 2.5), (5, 10), 90) since OpenCV 4.5.1.
        let q = [0.0, 0.0, 10.0, 0.0, 10.0, 5.0, 0.0, 5.0];
        assert_rbox(RBox::from_quad(&q, AngleConvention::OpenCv), RBox::new(5.0, 2.5, 5.0, 10.0, FRAC_PI_2), 1e-12);
        // Vertex order and orientation do not matter.
        let q = [0.0, 5.0, 10.0, 5.0, 10.0, 0.0, 0.0, 0.0];
        assert_rbox(RBox::from_quad(&q, AngleConvention::OpenCv), RBox::new(5.0, 2.5, 5.0, 10.0, FRAC_PI_2), 1e-12);
        // le90: the long side is the width, angle 0.
        assert_rbox(RBox::from_quad(&q, AngleConvention::Le90), RBox::new(5.0, 2.5, 10.0, 5.0, 0.0), 1e-12);
    }

    #[test]
    fn rotated_rectangle() {
        // A 4 x 2 rectangle centred at (10, 20), width direction at 30° (on screen: clockwise).
        let (s, c) = (0.5f64, 3f64.sqrt() / 2.0);
        let pts = [
            [10.0 + 2.0 * c - 1.0 * -s, 20.0 + 2.0 * s - 1.0 * c],
            [10.0 + 2.0 * c + 1.0 * -s, 20.0 + 2.0 * s + 1.0 * c],
            [10.0 - 2.0 * c + 1.0 * -s, 20.0 - 2.0 * s + 1.0 * c],
            [10.0 - 2.0 * c - 1.0 * -s, 20.0 - 2.0 * s - 1.0 * c],
        ];
        let r = min_area_rect(&pts);
        assert_rbox(r, RBox::new(10.0, 20.0, 4.0, 2.0, PI / 6.0), 1e-9);
        // Width direction at 120° is outside (0, 90°]: OpenCV reports 30° with sides swapped.
        let r2 = RBox::new(10.0, 20.0, 4.0, 2.0, 2.0 * PI / 3.0).regularize(AngleConvention::OpenCv);
        assert_rbox(r2, RBox::new(10.0, 20.0, 2.0, 4.0, PI / 6.0), 1e-12);
        // ... and le90 gives back the long side at -60°.
        let r3 = r2.regularize(AngleConvention::Le90);
        assert_rbox(r3, RBox::new(10.0, 20.0, 4.0, 2.0, -PI / 3.0), 1e-12);
    }

    #[test]
    fn skewed_quad_gets_its_enclosing_rectangle() {
        // Parallelogram (0,0) (4,0) (6,2) (2,2). Along the x edges the box is 6 x 2 = 12; along
        // the slanted edges, u = (1,1)/√2, the projections span 4√2 and along v = (-1,1)/√2 they
        // span 2√2, area 16. So it is the axis-aligned 6 x 2 box: w = 2, h = 6, 90° here; cv2 4.12
        // reports the same rectangle as w = 6, h = 2, 0° (see `min_area_rect`).
        let q = [0.0, 0.0, 4.0, 0.0, 6.0, 2.0, 2.0, 2.0];
        assert_rbox(RBox::from_quad(&q, AngleConvention::OpenCv), RBox::new(3.0, 1.0, 2.0, 6.0, FRAC_PI_2), 1e-12);
        // Rhombus (0,0) (3,1) (4,4) (1,3), sides √10. Along u = (3,1)/√10 the points project to
        // 0, √10, 16/√10, 6/√10 and along v = (-1,3)/√10 to 0, 0, 8/√10, 8/√10: 16/√10 x 8/√10
        // = 12.8, centre (8u + 4v)/√10 = (2, 2). The edge (1,3)/√10 gives the mirror image with
        // the same area, so either orientation is a valid minimum.
        let q = [0.0, 0.0, 3.0, 1.0, 4.0, 4.0, 1.0, 3.0];
        let r = RBox::from_quad(&q, AngleConvention::OpenCv);
        let s10 = 10f64.sqrt();
        let a = RBox::new(2.0, 2.0, 16.0 / s10, 8.0 / s10, 1f64.atan2(3.0));
        let b = RBox::new(2.0, 2.0, 16.0 / s10, 8.0 / s10, 3f64.atan2(1.0));
        let near = |x: RBox, y: RBox| {
            close(x.cx, y.cx, 1e-9) && close(x.w, y.w, 1e-9) && close(x.h, y.h, 1e-9) && close(x.angle, y.angle, 1e-9)
        };
        assert!(near(r, a) || near(r, b), "{r:?}");
        // A trapezoid is not a rectangle: (0,0) (4,0) (3,2) (1,2) → the 4 x 2 box around it.
        let q = [0.0, 0.0, 4.0, 0.0, 3.0, 2.0, 1.0, 2.0];
        assert_rbox(RBox::from_quad(&q, AngleConvention::Le90), RBox::new(2.0, 1.0, 4.0, 2.0, 0.0), 1e-12);
    }

    #[test]
    fn degenerate_quads() {
        // cv2.minAreaRect of collinear points: ((2, 0), (4, 0), 180) and ((0, 2), (4, 0), -90).
        let seg = [0.0, 0.0, 2.0, 0.0, 4.0, 0.0, 1.0, 0.0];
        let r = RBox::from_quad(&seg, AngleConvention::OpenCv);
        assert_rbox(r, RBox::new(2.0, 0.0, 4.0, 0.0, PI), 1e-12);
        assert_eq!(r.area(), 0.0);
        let seg = [0.0, 0.0, 0.0, 2.0, 0.0, 4.0, 0.0, 1.0];
        assert_rbox(RBox::from_quad(&seg, AngleConvention::OpenCv), RBox::new(0.0, 2.0, 4.0, 0.0, -FRAC_PI_2), 1e-12);
        // le90 still regularises a segment: the long side is the width.
        assert_rbox(RBox::from_quad(&seg, AngleConvention::Le90), RBox::new(0.0, 2.0, 4.0, 0.0, -FRAC_PI_2), 1e-12);
        // A point: ((3, 3), (0, 0), 0).
        let pt = [3.0; 8];
        assert_rbox(RBox::from_quad(&pt, AngleConvention::OpenCv), RBox::new(3.0, 3.0, 0.0, 0.0, 0.0), 0.0);
        let nan = [f32::NAN; 8];
        assert_eq!(RBox::from_quad(&nan, AngleConvention::OpenCv).area(), 0.0);
    }

    #[test]
    fn quad_round_trip_in_mmrotate_corner_order() {
        let r = RBox::new(5.0, 2.5, 10.0, 4.0, 0.0);
        assert_eq!(r.to_quad(), [10.0, 4.5, 10.0, 0.5, 0.0, 0.5, 0.0, 4.5]);
        let back = RBox::from_quad(&r.to_quad(), AngleConvention::Le90);
        assert_rbox(back, r, 1e-6);
    }

    #[test]
    fn le90_square_and_wrap() {
        // w == h is swapped (mmrotate uses w > h), angle +π/2 then wrapped.
        let r = RBox::new(0.0, 0.0, 2.0, 2.0, 0.0).regularize(AngleConvention::Le90);
        assert_rbox(r, RBox::new(0.0, 0.0, 2.0, 2.0, -FRAC_PI_2), 1e-12);
        let r = RBox::new(0.0, 0.0, 3.0, 1.0, PI).regularize(AngleConvention::Le90);
        assert_rbox(r, RBox::new(0.0, 0.0, 3.0, 1.0, 0.0), 1e-12);
    }
}
