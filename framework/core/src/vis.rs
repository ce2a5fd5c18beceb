//! Pictures for people: oriented boxes in class colours with their class labels (text in the
//! bundled DejaVu Sans), and ground truth | prediction side by side.

use crate::images::{class_colour, draw_quad};
use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};
use std::sync::OnceLock;

/// DejaVu Sans 2.37 from Debian's fonts-dejavu-core; licence in `assets/fonts/LICENSE-DejaVu.txt`.
/// It is matplotlib's default face, so labels look like those of mmrotate's visualiser.
static FONT_TTF: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    // The bytes are compiled in and pinned by a unit test, so a parse failure is a build defect.
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_TTF).expect("bundled DejaVu Sans parses"))
}

/// Horizontal gap in pixels between the two panels of [`side_by_side`].
pub const PANEL_GAP: u32 = 16;

/// Background of the titles and the gap of [`side_by_side`].
const BACKDROP: Rgb<u8> = Rgb([40, 40, 40]);

/// One box to draw: `class` is the position in the class list (it picks the colour and the
/// name), `quad` the four corners in image pixels, `score` is shown after the name when given.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub class: usize,
    pub quad: [f32; 8],
    pub score: Option<f32>,
}

/// A rectangle in pixels, as drawn (after clipping into the image).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Box line width and label text height (pixels) for an image of this size: thin enough for
/// DOTA's crowded small vehicles, yet visible when a large scene is viewed scaled down.
pub fn style_for(width: u32, height: u32) -> (u32, f32) {
    let side = width.max(height);
    ((side / 400).max(2), (side as f32 / 56.0).clamp(11.0, 40.0))
}

/// Height of a line of text set at `px`: ascent to descent.
fn line_height(px: f32) -> f32 {
    font().as_scaled(PxScale::from(px)).height()
}

/// Space between a label's text and the edge of its box.
fn label_pad(px: f32) -> f32 {
    (px * 0.15).round().max(1.0)
}

/// Advance width in pixels of `text` set at `px`.
fn text_width(text: &str, px: f32) -> f32 {
    let f = font().as_scaled(PxScale::from(px));
    let mut width = 0.0;
    let mut prev = None;
    for ch in text.chars() {
        let id = f.glyph_id(ch);
        if let Some(p) = prev {
            width += f.kern(p, id);
        }
        width += f.h_advance(id);
        prev = Some(id);
    }
    width
}

/// Text with its top-left at (`x`, `y`), antialiased over what is there; clipped to the image.
fn draw_text(img: &mut RgbImage, x: f32, y: f32, text: &str, colour: Rgb<u8>, px: f32) {
    let scale = PxScale::from(px);
    let f = font().as_scaled(scale);
    let baseline = y + f.ascent();
    let mut caret = x;
    let mut prev = None;
    for ch in text.chars() {
        let id = f.glyph_id(ch);
        if let Some(p) = prev {
            caret += f.kern(p, id);
        }
        prev = Some(id);
        let glyph = id.with_scale_and_position(scale, point(caret, baseline));
        caret += f.h_advance(id);
        let Some(outline) = font().outline_glyph(glyph) else { continue }; // spaces have none
        let b = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
            if px < 0 || py < 0 || px >= img.width() as i64 || py >= img.height() as i64 {
                return;
            }
            let under = img.get_pixel_mut(px as u32, py as u32);
            let a = coverage.clamp(0.0, 1.0);
            for k in 0..3 {
                under.0[k] = (under.0[k] as f32 * (1.0 - a) + colour.0[k] as f32 * a).round() as u8;
            }
        });
    }
}

fn fill(img: &mut RgbImage, r: Rect, c: Rgb<u8>) {
    for y in r.y..r.y + r.height {
        for x in r.x..r.x + r.width {
            img.put_pixel(x, y, c);
        }
    }
}

/// Black or white, whichever reads better on `bg` (ITU-R BT.601 luma).
fn text_colour_on(bg: Rgb<u8>) -> Rgb<u8> {
    let luma = 0.299 * bg.0[0] as f32 + 0.587 * bg.0[1] as f32 + 0.114 * bg.0[2] as f32;
    if luma > 140.0 {
        Rgb([0, 0, 0])
    } else {
        Rgb([255, 255, 255])
    }
}

/// Draws `text` at `scale` pixels high on a box filled with `colour` (black or white text,
/// whichever contrasts), the box's top-left at (`x`, `y`) but moved inside the image where it
/// would stick out, so that labels at the borders stay readable. Returns the box as drawn;
/// nothing is drawn (an empty rect) on an empty image.
pub fn draw_label(img: &mut RgbImage, x: f32, y: f32, text: &str, colour: Rgb<u8>, scale: f32) -> Rect {
    let pad = label_pad(scale);
    let width = ((text_width(text, scale) + 2.0 * pad).ceil() as u32).min(img.width());
    let height = ((line_height(scale) + 2.0 * pad).ceil() as u32).min(img.height());
    let clamp = |v: f32, room: u32| if v.is_finite() { v.round().clamp(0.0, room as f32) as u32 } else { 0 };
    let bx = clamp(x, img.width() - width);
    let by = clamp(y, img.height() - height);
    let rect = Rect { x: bx, y: by, width, height };
    fill(img, rect, colour);
    draw_text(img, bx as f32 + pad, by as f32 + pad, text, text_colour_on(colour), scale);
    rect
}

fn label_text(classes: &[String], o: &Object) -> String {
    let name = classes.get(o.class).map_or_else(|| format!("class {}", o.class), Clone::clone);
    match o.score {
        Some(s) => format!("{name} {s:.2}"),
        None => name,
    }
}

/// Draws every object: outlines first, then the labels (so no outline crosses a label), each
/// label resting on the object's topmost corner. Line width and text size follow [`style_for`].
pub fn draw_objects(img: &mut RgbImage, classes: &[String], objects: &[Object]) {
    let (line, px) = style_for(img.width(), img.height());
    for o in objects {
        draw_quad(img, &o.quad, class_colour(o.class as u32), line);
    }
    for o in objects {
        let corner = (0..4).min_by(|&a, &b| o.quad[2 * a + 1].total_cmp(&o.quad[2 * b + 1])).unwrap_or(0);
        let (x, y) = (o.quad[2 * corner], o.quad[2 * corner + 1]);
        // The label's bottom on the outer edge of the outline.
        let bottom = y - (line as f32 / 2.0).ceil();
        let top = bottom - line_height(px) - 2.0 * label_pad(px);
        draw_label(img, x - line as f32 / 2.0, top, &label_text(classes, o), class_colour(o.class as u32), px);
    }
}

/// Ground truth | prediction of one image, as `lmmrotate vis` and `eval --vis` draw them:
///
/// ```ignore
/// let picture: RgbImage = vis::side_by_side(&img, &class_names, &gt_objects, &pred_objects);
/// picture.save(out_dir.join(format!("{image_id}.png")))?;
/// ```
///
/// `img` is the original image (not the model input); `class_names: &[String]` in class-id order;
/// `gt_objects, pred_objects: &[vis::Object]` with quads in `img`'s pixels. The result is
/// `2 * w + PANEL_GAP` wide and `h + title bar` high; the panels sit at the bottom, so pixel
/// (x, y) of `img` is at (x, y + H - h) in the ground truth panel and at
/// (x + w + PANEL_GAP, y + H - h) in the prediction panel, under the titles "ground truth" and
/// "prediction".
pub fn side_by_side(img: &RgbImage, classes: &[String], gt: &[Object], pred: &[Object]) -> RgbImage {
    let (w, h) = img.dimensions();
    let (_, px) = style_for(w, h);
    let pad = (px * 0.3).round();
    let title_h = (line_height(px) + 2.0 * pad).ceil() as u32;
    let mut out = RgbImage::from_pixel(2 * w + PANEL_GAP, h + title_h, BACKDROP);
    for (i, (title, objects)) in [("ground truth", gt), ("prediction", pred)].into_iter().enumerate() {
        let mut panel = img.clone();
        draw_objects(&mut panel, classes, objects);
        let x0 = i as u32 * (w + PANEL_GAP);
        image::imageops::replace(&mut out, &panel, x0 as i64, title_h as i64);
        draw_text(&mut out, x0 as f32 + pad, pad, title, Rgb([255, 255, 255]), px);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GREY: Rgb<u8> = Rgb([90, 90, 90]);

    fn changed(a: &RgbImage, b: &RgbImage, r: Rect) -> (usize, usize) {
        let (mut inside, mut outside) = (0, 0);
        for (x, y, p) in a.enumerate_pixels() {
            if p != b.get_pixel(x, y) {
                let within = x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height;
                if within {
                    inside += 1;
                } else {
                    outside += 1;
                }
            }
        }
        (inside, outside)
    }

    #[test]
    fn bundled_font_parses_and_has_latin_glyphs() {
        assert!(font().glyph_id('a').0 != 0 && font().glyph_id('Z').0 != 0);
    }

    #[test]
    fn label_draws_text_on_a_box_and_nothing_outside() {
        let blank = RgbImage::from_pixel(200, 80, GREY);
        let mut img = blank.clone();
        let red = Rgb([230, 30, 30]);
        let r = draw_label(&mut img, 10.0, 20.0, "plane", red, 20.0);
        assert_eq!((r.x, r.y), (10, 20));
        assert!(r.width > 40 && r.height >= 20, "{r:?}");
        let (inside, outside) = changed(&blank, &img, r);
        assert_eq!(outside, 0);
        assert_eq!(inside as u32, r.width * r.height, "the whole box is filled");
        // Text in white on red: some pixels are neither the box colour nor grey.
        let text_px = (r.y..r.y + r.height)
            .flat_map(|y| (r.x..r.x + r.width).map(move |x| (x, y)))
            .filter(|&(x, y)| *img.get_pixel(x, y) != red)
            .count();
        assert!(text_px > 30, "{text_px} text pixels");
    }

    #[test]
    fn different_strings_draw_differently_and_longer_is_wider() {
        let blank = RgbImage::from_pixel(300, 60, GREY);
        let (mut a, mut b) = (blank.clone(), blank.clone());
        let ra = draw_label(&mut a, 5.0, 5.0, "ship", Rgb([255, 255, 0]), 24.0);
        let rb = draw_label(&mut b, 5.0, 5.0, "shop", Rgb([255, 255, 0]), 24.0);
        assert_eq!(ra.height, rb.height);
        assert_ne!(a, b);
        let mut c = blank.clone();
        let rc = draw_label(&mut c, 5.0, 5.0, "storage-tank", Rgb([255, 255, 0]), 24.0);
        assert!(rc.width > ra.width);
    }

    #[test]
    fn label_at_the_border_is_moved_inside_and_tiny_images_do_not_panic() {
        let mut img = RgbImage::from_pixel(100, 50, GREY);
        let r = draw_label(&mut img, 95.0, -10.0, "vehicle", Rgb([0, 0, 200]), 14.0);
        assert_eq!(r.y, 0);
        assert_eq!(r.x + r.width, 100);
        assert_eq!(text_colour_on(Rgb([0, 0, 200])), Rgb([255, 255, 255]));
        let mut tiny = RgbImage::from_pixel(3, 2, GREY);
        draw_label(&mut tiny, f32::NAN, 1e9, "harbor", Rgb([0, 200, 0]), 30.0);
        let mut empty = RgbImage::new(0, 0);
        assert_eq!(draw_label(&mut empty, 0.0, 0.0, "x", GREY, 12.0).width, 0);
    }

    #[test]
    fn objects_get_class_colours_and_labels_above_them() {
        let classes = vec!["plane".to_string(), "ship".to_string()];
        let mut img = RgbImage::from_pixel(400, 300, GREY);
        let quad = [100.0, 150.0, 300.0, 150.0, 300.0, 250.0, 100.0, 250.0];
        draw_objects(&mut img, &classes, &[Object { class: 1, quad, score: Some(0.5) }]);
        let c = class_colour(1);
        assert_eq!(*img.get_pixel(100, 200), c, "left edge");
        assert_eq!(*img.get_pixel(300, 200), c, "right edge");
        assert_eq!(*img.get_pixel(200, 200), GREY, "inside untouched");
        assert_eq!(*img.get_pixel(100, 140), c, "label box above the top-left corner");
        assert_eq!(*img.get_pixel(100, 100), GREY, "label is one line high");
    }

    #[test]
    fn side_by_side_layout() {
        let img = RgbImage::from_pixel(120, 90, GREY);
        let classes = vec!["plane".to_string()];
        let gt = [Object { class: 0, quad: [10.0, 40.0, 60.0, 40.0, 60.0, 80.0, 10.0, 80.0], score: None }];
        let out = side_by_side(&img, &classes, &gt, &[]);
        assert_eq!(out.width(), 2 * 120 + PANEL_GAP);
        let top = out.height() - 90;
        assert!(top > 10, "room for the titles");
        assert_eq!(*out.get_pixel(10, 60 + top), class_colour(0), "ground truth on the left");
        assert_eq!(*out.get_pixel(120 + PANEL_GAP + 10, 60 + top), GREY, "no prediction on the right");
        assert_eq!(*out.get_pixel(120 + PANEL_GAP / 2, top + 45), BACKDROP, "gap");
        let title_px =
            (0..top).flat_map(|y| (0..120).map(move |x| (x, y))).filter(|&(x, y)| *out.get_pixel(x, y) != BACKDROP);
        assert!(title_px.count() > 20, "a title is written");
    }
}
