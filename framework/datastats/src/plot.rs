//! The PNG panel: objects per class as horizontal bars across the top, then one histogram per
//! distribution in two columns, drawn pixel by pixel with the `image` crate.

use crate::font::{draw_text, text_width};
use crate::stats::{DataStats, Distribution};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: image::ImageError },
}

const PANEL_W: u32 = 440;
const PANEL_H: u32 = 240;
const MARGIN: u32 = 12;
const ROW_H: u32 = 14;
const BG: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([30, 30, 30]);
const GRID: Rgb<u8> = Rgb([200, 200, 200]);
const BAR: Rgb<u8> = Rgb([52, 101, 164]);

fn fill(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, color: Rgb<u8>) {
    for py in y..(y + h).min(img.height()) {
        for px in x..(x + w).min(img.width()) {
            img.put_pixel(px, py, color);
        }
    }
}

/// `v` in few characters: whole and large numbers without decimals, others with one.
fn short(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Objects per class: one bar per class with its name and count.
fn class_panel(img: &mut RgbImage, stats: &DataStats, y0: u32) {
    draw_text(img, MARGIN as i64, y0 as i64, "OBJECTS PER CLASS", 2, INK);
    let max = stats.classes.iter().map(|c| c.objects).max().unwrap_or(0).max(1);
    let name_w = 26 * 4 * 2; // 26 characters at scale 2
    let bar_x = MARGIN + name_w;
    let bar_max = img.width() - bar_x - MARGIN - 80;
    for (i, c) in stats.classes.iter().enumerate() {
        let y = y0 + 20 + i as u32 * ROW_H;
        let name: String = c.name.chars().take(25).collect();
        draw_text(img, MARGIN as i64, y as i64 + 2, &name, 2, INK);
        let w = ((c.objects as f64 / max as f64) * bar_max as f64).round() as u32;
        fill(img, bar_x, y + 1, w.max(u32::from(c.objects > 0)), ROW_H - 3, BAR);
        draw_text(img, (bar_x + w + 6) as i64, y as i64 + 2, &c.objects.to_string(), 2, INK);
    }
}

/// One histogram with its title, count axis and value range.
fn histogram_panel(img: &mut RgbImage, title: &str, d: &Distribution, x0: u32, y0: u32) {
    let h = &d.histogram;
    draw_text(img, (x0 + MARGIN) as i64, (y0 + 4) as i64, title, 2, INK);
    let summary = format!("N {}  MIN {}  MEAN {}  MAX {}", d.count, short(d.min), short(d.mean), short(d.max));
    draw_text(img, (x0 + MARGIN) as i64, (y0 + 22) as i64, &summary, 2, INK);
    let (px, py) = (x0 + MARGIN + 36, y0 + 42);
    let (pw, ph) = (PANEL_W - 2 * MARGIN - 40, PANEL_H - 42 - 30);
    let top = h.counts.iter().copied().max().unwrap_or(0).max(1);
    for k in 0..=4 {
        fill(img, px, py + ph * k / 4, pw, 1, GRID);
    }
    let n = h.counts.len() as u32;
    let bw = (pw / n.max(1)).max(1);
    for (i, &c) in h.counts.iter().enumerate() {
        let bh = ((c as f64 / top as f64) * ph as f64).round() as u32;
        fill(img, px + i as u32 * bw + 1, py + ph - bh, bw.saturating_sub(2).max(1), bh, BAR);
    }
    fill(img, px, py + ph, pw, 1, INK);
    let top_label = top.to_string();
    draw_text(img, (px - 4 - text_width(&top_label, 2)) as i64, py as i64, &top_label, 2, INK);
    draw_text(img, (px - 12) as i64, (py + ph - 10) as i64, "0", 2, INK);
    let (lo, hi) = (short(h.lo), short(h.hi));
    draw_text(img, px as i64, (py + ph + 6) as i64, &lo, 2, INK);
    let right = px + n * bw;
    draw_text(img, (right - text_width(&hi, 2)) as i64, (py + ph + 6) as i64, &hi, 2, INK);
}

impl DataStats {
    /// The histogram panel: classes on top, then objects per image, short and long sides,
    /// angles and (when present) tokens per response.
    pub fn render_png(&self) -> RgbImage {
        let mut hists: Vec<(&str, &Distribution)> = vec![
            ("OBJECTS PER IMAGE", &self.objects_per_image),
            ("SHORT SIDE (PX)", &self.short_side),
            ("LONG SIDE (PX)", &self.long_side),
            ("ANGLE (DEG, LE90)", &self.angle),
        ];
        if let Some(t) = &self.tokens {
            hists.push(("TOKENS PER RESPONSE", t));
        }
        let class_h = 20 + ROW_H * self.classes.len() as u32 + 2 * MARGIN;
        let rows = hists.len().div_ceil(2) as u32;
        let mut img = RgbImage::from_pixel(2 * PANEL_W, MARGIN + class_h + rows * PANEL_H, BG);
        class_panel(&mut img, self, MARGIN);
        for (i, (title, d)) in hists.into_iter().enumerate() {
            let (col, row) = (i as u32 % 2, i as u32 / 2);
            histogram_panel(&mut img, title, d, col * PANEL_W, MARGIN + class_h + row * PANEL_H);
        }
        img
    }

    /// Writes [`DataStats::render_png`] to `path`.
    pub fn save_png(&self, path: &Path) -> Result<(), StatsError> {
        self.render_png().save(path).map_err(|source| StatsError::Write { path: path.to_path_buf(), source })
    }
}

#[cfg(test)]
mod tests {
    use crate::stats::{compute, StatsOptions};
    use lmmrotate_abi::{ClassTable, ImageMeta, Object, Quad, Sample};

    #[test]
    fn renders_a_panel_and_writes_it() {
        let classes = ClassTable::from_names(&["plane", "Liquid Cargo Ship"]);
        let obj = |c, s: f32| Object { quad: Quad::new([0., 0., s, 0., s, 3., 0., 3.]), class_id: c, difficulty: 0 };
        let samples: Vec<Sample> = (0..5)
            .map(|i| Sample {
                image: ImageMeta { id: i.to_string().into(), path: "x.png".into(), width: 64, height: 64 },
                objects: (0..i).map(|k| obj(k % 2, 4.0 + k as f32)).collect(),
            })
            .collect();
        let s = compute(&samples, &classes, &StatsOptions::default()).with_tokens(&[3, 9, 12, 40, 41], &StatsOptions::default());
        let img = s.render_png();
        // Two class rows, three rows of histograms.
        assert_eq!((img.width(), img.height()), (880, 12 + 20 + 28 + 24 + 3 * 240));
        let inked = img.pixels().filter(|p| p.0 == [52, 101, 164]).count();
        assert!(inked > 1000, "{inked}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.png");
        s.save_png(&path).unwrap();
        assert_eq!(image::image_dimensions(&path).unwrap(), (880, img.height()));
        let err = s.save_png(&dir.path().join("missing/stats.png")).unwrap_err();
        assert!(err.to_string().contains("missing/stats.png"), "{err}");
    }
}
