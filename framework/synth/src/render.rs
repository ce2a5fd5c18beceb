//! Paints a [`Layout`] into RGB pixels: ground texture, fields, water, roads, shadows, then the
//! objects in placement order (later objects occlude earlier ones). Objects are antialiased by
//! 2x2 supersampling so that small cars keep their shape.

use crate::rng::mix;
use crate::scene::{Kind, Layout, Placed, Style};
use image::RgbImage;

type Rgb = [f32; 3];

fn lerp(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn scale(c: Rgb, k: f32) -> Rgb {
    c.map(|v| v * k)
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Per-pixel grain in `[-1, 1]`, a pure function of the position.
fn grain(seed: u64, x: u32, y: u32) -> f32 {
    let h = mix(seed ^ ((x as u64) << 32 | y as u64));
    (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

struct Canvas {
    w: u32,
    h: u32,
    px: Vec<Rgb>,
}

impl Canvas {
    fn get(&mut self, x: u32, y: u32) -> &mut Rgb {
        &mut self.px[(y * self.w + x) as usize]
    }
}

/// Renders the scene.
pub fn render(layout: &Layout) -> RgbImage {
    let (w, h) = (layout.width, layout.height);
    let mut canvas = Canvas { w, h, px: vec![[0.0; 3]; (w * h) as usize] };
    background(layout, &mut canvas);
    for o in &layout.objects {
        let k = o.kind.height() * o.wid;
        if k > 0.0 {
            let shadow = Placed { cx: o.cx + layout.sun.0 * k, cy: o.cy + layout.sun.1 * k, ..o.clone() };
            paint(&mut canvas, &shadow, |c, _| scale(c, 0.55), true);
        }
    }
    for o in &layout.objects {
        paint(&mut canvas, o, |_, c| c, false);
    }
    let mut img = RgbImage::new(w, h);
    for (i, p) in img.pixels_mut().enumerate() {
        p.0 = canvas.px[i].map(|v| v.round().clamp(0.0, 255.0) as u8);
    }
    img
}

fn background(layout: &Layout, canvas: &mut Canvas) {
    let g = &layout.ground;
    for y in 0..canvas.h {
        for x in 0..canvas.w {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            let n1 = g.noise.fbm(fx, fy, g.cell, 4);
            let n2 = g.noise.fbm(fx + 913.0, fy - 417.0, g.cell * 0.35, 3);
            let mut c = lerp(g.colors[0], g.colors[1], smoothstep(0.35, 0.65, n1));
            c = lerp(c, g.colors[2], smoothstep(0.55, 0.75, n2) * 0.8);
            for (f, tint) in &g.fields {
                let (u, v) = local(f, fx, fy);
                if u.abs() <= 1.0 && v.abs() <= 1.0 {
                    // Cultivated field: its own colour with furrows along its length.
                    let furrow = ((v * f.wid * 0.5) * 0.9).sin() * 0.05;
                    c = lerp(c, scale(*tint, 1.0 + furrow), 0.75);
                }
            }
            if let Some(wt) = &layout.water {
                let d = wt.shore_distance(fx, fy);
                if d < 0.0 {
                    let deep = smoothstep(0.0, 60.0, -d);
                    c = lerp([62.0, 98.0, 104.0], [28.0, 56.0, 72.0], deep);
                } else if d < 4.0 {
                    c = lerp([176.0, 166.0, 136.0], c, d / 4.0);
                }
            }
            for r in &layout.roads {
                let (across, along) = r.local(fx, fy);
                let a = across.abs();
                if a < r.half_width {
                    c = [96.0, 98.0, 102.0];
                    if a > r.half_width - 2.0 && a < r.half_width - 1.0 {
                        c = [185.0, 185.0, 180.0];
                    } else if a < 0.7 && along.rem_euclid(18.0) < 9.0 {
                        c = [220.0, 210.0, 150.0];
                    }
                } else if a < r.half_width + 1.5 {
                    c = lerp(c, [120.0, 118.0, 112.0], 0.6);
                }
            }
            let gr = grain(layout.pixel_seed, x, y) * 7.0;
            *canvas.get(x, y) = c.map(|v| v + gr);
        }
    }
}

/// Object-local coordinates normalised to `[-1, 1]` along the length (`u`, +1 = front) and the
/// width (`v`).
fn local(p: &Placed, x: f32, y: f32) -> (f32, f32) {
    let (s, c) = p.angle.sin_cos();
    let (dx, dy) = (x - p.cx, y - p.cy);
    ((dx * c + dy * s) / (p.len * 0.5), (-dx * s + dy * c) / (p.wid * 0.5))
}

/// Blends the object's shape over the canvas; `color(background, object colour)` gives the
/// painted colour (shadows darken the background instead of using the object's colour).
fn paint(canvas: &mut Canvas, p: &Placed, color: impl Fn(Rgb, Rgb) -> Rgb, shadow: bool) {
    let corners = p.corners();
    let x0 = corners.iter().map(|q| q[0]).fold(f64::INFINITY, f64::min).floor().max(0.0) as u32;
    let y0 = corners.iter().map(|q| q[1]).fold(f64::INFINITY, f64::min).floor().max(0.0) as u32;
    let x1 = (corners.iter().map(|q| q[0]).fold(f64::NEG_INFINITY, f64::max).ceil() as i64).min(canvas.w as i64 - 1);
    let y1 = (corners.iter().map(|q| q[1]).fold(f64::NEG_INFINITY, f64::max).ceil() as i64).min(canvas.h as i64 - 1);
    if x1 < 0 || y1 < 0 {
        return;
    }
    const SUB: [(f32, f32); 4] = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)];
    for y in y0..=y1 as u32 {
        for x in x0..=x1 as u32 {
            let (mut acc, mut n) = ([0.0f32; 3], 0);
            for (sx, sy) in SUB {
                let (u, v) = local(p, x as f32 + sx, y as f32 + sy);
                if let Some(c) = shade(p, u, v) {
                    let c = if shadow { [0.0; 3] } else { c };
                    acc = [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2]];
                    n += 1;
                }
            }
            if n > 0 {
                let px = canvas.get(x, y);
                let mean = scale(acc, 1.0 / n as f32);
                let target = color(*px, mean);
                *px = lerp(*px, target, n as f32 / 4.0);
            }
        }
    }
}

/// The colour of the object at local `(u, v)`, or `None` outside its shape. Every shape touches
/// all four sides of its rectangle, so the annotated quad is tight.
fn shade(p: &Placed, u: f32, v: f32) -> Option<Rgb> {
    if u.abs() > 1.0 || v.abs() > 1.0 {
        return None;
    }
    let st = &p.style;
    match p.kind {
        Kind::Plane => plane(p, st, u, v),
        Kind::Ship => ship(p, st, u, v),
        Kind::Tank => {
            let r = (u * u + v * v).sqrt();
            if r > 1.0 {
                None
            } else if r > 0.86 {
                Some(st.accent)
            } else if r < 0.1 {
                Some(scale(st.body, 0.7))
            } else {
                // Floating roof: a slightly darker disc with a seam ring.
                Some(if (r - 0.72).abs() < 0.04 { scale(st.body, 0.85) } else { st.body })
            }
        }
        Kind::LargeVehicle => {
            let corner = (u.abs() - 0.9).max(0.0) / 0.1 + (v.abs() - 0.8).max(0.0) / 0.2;
            if corner > 1.0 {
                None
            } else if u > 0.74 {
                Some(if u > 0.9 && v.abs() < 0.8 { [40.0, 48.0, 60.0] } else { st.accent })
            } else if u > 0.68 {
                Some([45.0, 45.0, 48.0])
            } else {
                Some(if v.abs() > 0.9 { scale(st.body, 0.85) } else { st.body })
            }
        }
        Kind::SmallVehicle => {
            let cu = (u.abs() - 0.72).max(0.0) / 0.28;
            let cv = (v.abs() - 0.55).max(0.0) / 0.45;
            if cu * cu + cv * cv > 1.0 {
                None
            } else if (0.2..0.45).contains(&u) && v.abs() < 0.8 || (-0.72..-0.55).contains(&u) && v.abs() < 0.75 {
                Some(st.accent)
            } else {
                Some(st.body)
            }
        }
        Kind::TennisCourt => {
            // Lines about a pixel wide whatever the court's size.
            let tu = 1.6 / p.len;
            let tv = 1.6 / p.wid;
            let line = u.abs() > 1.0 - 2.0 * tu
                || v.abs() > 1.0 - 2.0 * tv
                || u.abs() < tu
                || ((v.abs() - 0.75).abs() < tv)
                || ((u.abs() - 0.54).abs() < tu && v.abs() < 0.75)
                || (v.abs() < tv && u.abs() < 0.54);
            Some(if line { st.accent } else { st.body })
        }
    }
}

fn plane(p: &Placed, st: &Style, u: f32, v: f32) -> Option<Rgb> {
    let av = v.abs();
    // Fuselage half-width: 6 % of the length, in units of the half-span.
    let fw = 0.12 * p.len / p.wid;
    let fuselage = if u > 0.8 {
        av <= fw * ((1.0 - u) / 0.2).sqrt()
    } else if u < -0.8 {
        av <= fw * (0.45 + 0.55 * (u + 1.0) / 0.2)
    } else {
        av <= fw
    };
    let le = 0.22 - 0.42 * av;
    let wing = u <= le && u >= le - (0.30 - 0.14 * av);
    let tle = -0.70 - 0.25 * av;
    let tail = av <= 0.36 && u <= tle && u >= tle - (0.14 - 0.05 * av);
    let engine = (av - 0.4).abs() < 0.05 && (u - 0.1).abs() < 0.08;
    if engine {
        Some(scale(st.body, 0.62))
    } else if fuselage {
        Some(if u < -0.86 && st.variant % 2 == 0 { st.accent } else { st.body })
    } else if wing || tail {
        Some(scale(st.body, 0.93))
    } else {
        None
    }
}

fn ship(p: &Placed, st: &Style, u: f32, v: f32) -> Option<Rgb> {
    let av = v.abs();
    let half = if u > 0.55 {
        ((1.0 - u) / 0.45).sqrt()
    } else if u < -0.92 {
        1.0 - ((-0.92 - u) / 0.08).powi(2) * 0.25
    } else {
        1.0
    };
    if av > half {
        return None;
    }
    let rim = 2.0 / p.wid;
    if av > half - rim {
        return Some(scale(st.body, 0.7));
    }
    if (-0.82..-0.5).contains(&u) && av < 0.65 {
        return Some(st.accent);
    }
    if st.variant % 3 == 0 && (-0.42..0.5).contains(&u) && av < 0.7 {
        // Container ship: blocks of colour in a grid along the deck.
        let cell = ((u + 0.42) / 0.115) as u64 * 2 + u64::from(v > 0.0);
        let h = mix(st.variant as u64 ^ cell);
        let pal = [[170.0, 60.0, 45.0], [50.0, 90.0, 150.0], [200.0, 170.0, 60.0], [80.0, 130.0, 90.0], [190.0, 190.0, 190.0]];
        return Some(pal[(h % 5) as usize]);
    }
    Some(st.body)
}
