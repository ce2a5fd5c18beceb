//! A loss-curve PNG from the run's `log.csv` (step against loss), drawn without a plotting crate.

use crate::images::draw_line;
use image::{Rgb, RgbImage};
use std::path::Path;

pub fn loss_curve(csv: &Path, out: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(csv)?;
    let pts: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let step = f.next()?.parse().ok()?;
            let _epoch = f.next()?;
            let loss: f64 = f.next()?.parse().ok()?;
            loss.is_finite().then_some((step, loss))
        })
        .collect();
    let (w, h, pad) = (640u32, 360u32, 30f32);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let axis = Rgb([90, 90, 90]);
    draw_line(&mut img, (pad, h as f32 - pad), (w as f32 - pad, h as f32 - pad), axis, 1);
    draw_line(&mut img, (pad, pad), (pad, h as f32 - pad), axis, 1);
    if pts.len() >= 2 {
        let (x0, x1) = (pts[0].0, pts[pts.len() - 1].0.max(pts[0].0 + 1.0));
        let y1 = pts.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let y0 = pts.iter().map(|p| p.1).fold(f64::MAX, f64::min).min(0.0);
        let sx = |x: f64| pad + ((x - x0) / (x1 - x0)) as f32 * (w as f32 - 2.0 * pad);
        let sy = |y: f64| h as f32 - pad - ((y - y0) / (y1 - y0).max(1e-12)) as f32 * (h as f32 - 2.0 * pad);
        for win in pts.windows(2) {
            draw_line(&mut img, (sx(win[0].0), sy(win[0].1)), (sx(win[1].0), sy(win[1].1)), Rgb([20, 90, 200]), 2);
        }
    }
    img.save(out).map_err(std::io::Error::other)
}
