//! Image input and output on the host: decoding and resizing to a model's size (so plugins get
//! plain RGB bytes), and drawing oriented boxes.
//!
//! Resizing uses the `image` crate's Catmull-Rom filter (bicubic with a = −0.5, support scaled on
//! downscaling, i.e. antialiased), which is PIL's BICUBIC kernel; PIL computes in fixed point on
//! 8-bit data, so single pixels can differ by one level. The aspect ratio is not kept, as
//! Florence-2's processor does. An image already at the model's size is not resampled.

use crate::error::{CoreError, Result};
use image::{imageops::FilterType, Rgb, RgbImage as Img};
use lmmrotate_abi::{ImageSpec, Resample, RgbImage};
use std::path::Path;

/// Decodes the image at `path` as 8-bit RGB.
pub fn open_rgb(path: &Path) -> Result<Img> {
    let img = image::ImageReader::open(path)
        .map_err(|e| CoreError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| CoreError::io(path, e))?
        .decode()
        .map_err(|e| CoreError::Invalid(format!("{}: cannot decode image: {e}", path.display())))?;
    Ok(img.to_rgb8())
}

/// The image resized to `spec` as ABI bytes.
pub fn to_model_input(img: &Img, spec: &ImageSpec) -> RgbImage {
    let resized = if img.width() == spec.width && img.height() == spec.height {
        img.clone()
    } else {
        let filter = match spec.resample {
            Resample::Nearest => FilterType::Nearest,
            Resample::Bilinear => FilterType::Triangle,
            Resample::Bicubic => FilterType::CatmullRom,
        };
        image::imageops::resize(img, spec.width, spec.height, filter)
    };
    RgbImage { width: spec.width, height: spec.height, data: resized.into_raw().into() }
}

/// A distinct colour per class id (golden-angle hues, bright enough on aerial imagery).
pub fn class_colour(id: u32) -> Rgb<u8> {
    let h = (id as f32 * 137.508) % 360.0;
    let (s, v) = (0.85f32, 1.0f32);
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    Rgb([((r + m) * 255.0) as u8, ((g + m) * 255.0) as u8, ((b + m) * 255.0) as u8])
}

fn put(img: &mut Img, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// A line of `width` pixels (Bresenham, thickened by a square brush); clipped to the image.
pub fn draw_line(img: &mut Img, (x0, y0): (f32, f32), (x1, y1): (f32, f32), c: Rgb<u8>, width: u32) {
    let (mut x, mut y) = (x0.round() as i64, y0.round() as i64);
    let (xe, ye) = (x1.round() as i64, y1.round() as i64);
    // Lines far outside the image (garbage predictions) are not walked pixel by pixel.
    let lim = 4 * (img.width().max(img.height()) as i64 + 16);
    if [x, y, xe, ye].iter().any(|v| v.abs() > lim) {
        return;
    }
    let (dx, dy) = ((xe - x).abs(), -(ye - y).abs());
    let (sx, sy) = (if x < xe { 1 } else { -1 }, if y < ye { 1 } else { -1 });
    let mut err = dx + dy;
    let lo = -((width.max(1) as i64 - 1) / 2);
    let hi = lo + width.max(1) as i64 - 1;
    loop {
        for oy in lo..=hi {
            for ox in lo..=hi {
                put(img, x + ox, y + oy, c);
            }
        }
        if x == xe && y == ye {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x += sx;
        }
        if e2 <= dx {
            err += dx;
            y += sy;
        }
    }
}

/// Draws a closed quad (8 values, pixels).
pub fn draw_quad(img: &mut Img, q: &[f32; 8], c: Rgb<u8>, width: u32) {
    for i in 0..4 {
        let j = (i + 1) % 4;
        draw_line(img, (q[2 * i], q[2 * i + 1]), (q[2 * j], q[2 * j + 1]), c, width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quad_outline_is_drawn_and_clipped() {
        let mut img = Img::new(20, 20);
        draw_quad(&mut img, &[2.0, 2.0, 10.0, 2.0, 10.0, 10.0, 2.0, 10.0], Rgb([255, 0, 0]), 1);
        assert_eq!(img.get_pixel(6, 2), &Rgb([255, 0, 0]));
        assert_eq!(img.get_pixel(10, 6), &Rgb([255, 0, 0]));
        assert_eq!(img.get_pixel(6, 6), &Rgb([0, 0, 0]), "inside stays empty");
        // Partly and far outside: no panic.
        draw_quad(&mut img, &[-5.0, -5.0, 30.0, 4.0, 1e9, 1e9, f32::NAN, 0.0], Rgb([0, 255, 0]), 3);
    }

    #[test]
    fn resize_only_when_needed() {
        let img = Img::from_pixel(4, 2, Rgb([10, 20, 30]));
        let same = to_model_input(&img, &ImageSpec { width: 4, height: 2, resample: Resample::Bicubic });
        assert_eq!(same.data.as_slice(), img.as_raw().as_slice());
        let up = to_model_input(&img, &ImageSpec { width: 8, height: 8, resample: Resample::Bicubic });
        assert_eq!(up.data.len(), 8 * 8 * 3);
        assert!(up.data.chunks(3).all(|p| p == [10, 20, 30]), "a flat image stays flat");
    }

    #[test]
    fn colours_differ_between_neighbouring_classes() {
        assert_ne!(class_colour(0), class_colour(1));
        assert_ne!(class_colour(1), class_colour(2));
    }
}
