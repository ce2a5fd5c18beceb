//! Plane polygons: signed area, convex hull, clipping by a convex polygon and intersection-over-
//! foreground against an axis-aligned window (what DOTA patch splitting keeps objects by).

/// A point `[x, y]` in image pixels (y grows downwards; nothing here depends on it).
pub type Point = [f64; 2];

/// An axis-aligned window `[x0, y0, x1, y1]` with `x0 <= x1`, `y0 <= y1`.
pub type Window = [f64; 4];

/// Shoelace area: positive for counter-clockwise vertices in a y-up frame.
pub fn signed_area(poly: &[Point]) -> f64 {
    if poly.len() < 3 {
        return 0.0;
    }
    let mut acc = 0.0;
    let mut prev = poly[poly.len() - 1];
    for &p in poly {
        acc += prev[0] * p[1] - prev[1] * p[0];
        prev = p;
    }
    acc * 0.5
}

/// Area of a simple polygon (either orientation); 0 for fewer than 3 vertices or non-finite input.
pub fn polygon_area(poly: &[Point]) -> f64 {
    let a = signed_area(poly).abs();
    if a.is_finite() {
        a
    } else {
        0.0
    }
}

fn cross(o: Point, a: Point, b: Point) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Convex hull (Andrew's monotone chain), counter-clockwise, without collinear points.
/// Non-finite points are ignored. Returns fewer than 3 points for degenerate input.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut pts: Vec<Point> = points.iter().copied().filter(|p| p[0].is_finite() && p[1].is_finite()).collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut hull: Vec<Point> = Vec::with_capacity(pts.len() * 2);
    for &p in &pts {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    // The upper chain must not pop into the lower one, hence the floor at `lower_len`.
    let lower_len = hull.len() + 1;
    for &p in pts.iter().rev().skip(1) {
        while hull.len() >= lower_len && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop(); // the first point closes the chain
    hull
}

/// One Sutherland–Hodgman step: keep the part of `input` where `side(p) >= 0`.
/// `side` is an affine function, so the crossing point is found by linear interpolation; the two
/// values have opposite signs there, which keeps the division well conditioned even for
/// nearly parallel edges.
pub(crate) fn clip_half_plane(input: &[Point], side: impl Fn(Point) -> f64, mut emit: impl FnMut(Point)) {
    let Some(&last) = input.last() else { return };
    let mut prev = last;
    let mut d_prev = side(prev);
    for &cur in input {
        let d_cur = side(cur);
        if d_cur >= 0.0 {
            if d_prev < 0.0 {
                emit(crossing(prev, cur, d_prev, d_cur));
            }
            emit(cur);
        } else if d_prev >= 0.0 {
            emit(crossing(prev, cur, d_prev, d_cur));
        }
        prev = cur;
        d_prev = d_cur;
    }
}

fn crossing(p: Point, q: Point, dp: f64, dq: f64) -> Point {
    let t = dp / (dp - dq);
    [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]
}

/// The half-plane function of directed edge `a -> b`, positive on the inner side of a polygon of
/// orientation `orient` (+1 counter-clockwise, -1 clockwise).
pub(crate) fn edge_side(a: Point, b: Point, orient: f64) -> impl Fn(Point) -> f64 {
    move |p| orient * cross(a, b, p)
}

/// `subject ∩ clip` for a convex `clip` polygon (either orientation) and any simple `subject`.
/// Returns an empty polygon when they do not overlap or `clip` is degenerate.
pub fn clip_convex(subject: &[Point], clip: &[Point]) -> Vec<Point> {
    let area = signed_area(clip);
    if !(area.is_finite() && area != 0.0) {
        return Vec::new();
    }
    let orient = area.signum();
    let mut cur: Vec<Point> = subject.to_vec();
    let mut next = Vec::with_capacity(cur.len() + clip.len());
    for (i, &a) in clip.iter().enumerate() {
        let b = clip[(i + 1) % clip.len()];
        next.clear();
        clip_half_plane(&cur, edge_side(a, b, orient), |p| next.push(p));
        std::mem::swap(&mut cur, &mut next);
        if cur.is_empty() {
            break;
        }
    }
    cur
}

/// Intersection over foreground: `area(poly ∩ window) / area(poly)`, in `[0, 1]`, 0 for a
/// zero-area polygon. As mmrotate's `img_split.py` (which uses shapely) for simple polygons.
pub fn iof_window(poly: &[Point], window: Window) -> f64 {
    let area = polygon_area(poly);
    if area <= 0.0 {
        return 0.0;
    }
    let [x0, y0, x1, y1] = window;
    let rect = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
    let inter = polygon_area(&clip_convex(poly, &rect));
    (inter / area).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_of_unit_square_and_triangle() {
        assert_eq!(signed_area(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), 1.0);
        assert_eq!(signed_area(&[[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]), -1.0);
        assert_eq!(polygon_area(&[[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]]), 6.0);
        assert_eq!(polygon_area(&[[0.0, 0.0], [4.0, 0.0]]), 0.0);
        assert_eq!(polygon_area(&[[f64::NAN, 0.0], [4.0, 0.0], [0.0, 3.0]]), 0.0);
    }

    #[test]
    fn hull_drops_interior_and_collinear_points() {
        let pts = [[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [2.0, 2.0], [1.0, 1.0], [0.0, 2.0]];
        let hull = convex_hull(&pts);
        assert_eq!(hull, vec![[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]);
        assert_eq!(convex_hull(&[[1.0, 1.0], [1.0, 1.0]]).len(), 1);
        assert_eq!(convex_hull(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]).len(), 2);
    }

    #[test]
    fn clipping_two_offset_squares() {
        let a = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]];
        let b = [[1.0, 1.0], [1.0, 3.0], [3.0, 3.0], [3.0, 1.0]]; // clockwise on purpose
        assert_eq!(polygon_area(&clip_convex(&a, &b)), 1.0);
        let far = [[5.0, 5.0], [6.0, 5.0], [6.0, 6.0]];
        assert!(clip_convex(&a, &far).is_empty());
    }

    #[test]
    fn iof_of_a_half_covered_quad() {
        // 10x4 rectangle, window covers x in [5, 100): half of it.
        let poly = [[0.0, 0.0], [10.0, 0.0], [10.0, 4.0], [0.0, 4.0]];
        assert_eq!(iof_window(&poly, [5.0, -10.0, 100.0, 100.0]), 0.5);
        assert_eq!(iof_window(&poly, [-1.0, -1.0, 11.0, 5.0]), 1.0);
        assert_eq!(iof_window(&poly, [20.0, 20.0, 30.0, 30.0]), 0.0);
        // a non-convex "L" of area 3 with one unit square inside the window
        let l = [[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [1.0, 1.0], [1.0, 2.0], [0.0, 2.0]];
        assert!((iof_window(&l, [0.0, 1.0, 1.0, 2.0]) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(iof_window(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], [0.0, 0.0, 5.0, 5.0]), 0.0);
    }
}
