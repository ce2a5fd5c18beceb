//! A 3×5 pixel bitmap font (upper case, digits, a little punctuation) so that the PNG panel can
//! carry titles and axis numbers without a font file or a plotting crate.

use image::{Rgb, RgbImage};

/// Each glyph: five rows of three pixels, top to bottom, `1` = ink.
const GLYPHS: [(char, &str); 51] = [
    ('0', "111101101101111"),
    ('1', "010110010010111"),
    ('2', "111001111100111"),
    ('3', "111001111001111"),
    ('4', "101101111001001"),
    ('5', "111100111001111"),
    ('6', "111100111101111"),
    ('7', "111001001010010"),
    ('8', "111101111101111"),
    ('9', "111101111001111"),
    ('A', "010101111101101"),
    ('B', "110101110101110"),
    ('C', "011100100100011"),
    ('D', "110101101101110"),
    ('E', "111100110100111"),
    ('F', "111100110100100"),
    ('G', "011100101101011"),
    ('H', "101101111101101"),
    ('I', "111010010010111"),
    ('J', "001001001101010"),
    ('K', "101101110101101"),
    ('L', "100100100100111"),
    ('M', "101111111101101"),
    ('N', "110101101101101"),
    ('O', "010101101101010"),
    ('P', "110101110100100"),
    ('Q', "010101101110011"),
    ('R', "110101110101101"),
    ('S', "011100010001110"),
    ('T', "111010010010010"),
    ('U', "101101101101111"),
    ('V', "101101101101010"),
    ('W', "101101111111101"),
    ('X', "101101010101101"),
    ('Y', "101101010010010"),
    ('Z', "111001010100111"),
    (' ', "000000000000000"),
    ('.', "000000000000010"),
    (',', "000000000010100"),
    ('-', "000000111000000"),
    ('+', "000010111010000"),
    ('/', "001001010100100"),
    (':', "000010000010000"),
    ('(', "001010010010001"),
    (')', "100010010010100"),
    ('%', "101001010100101"),
    ('<', "001010100010001"),
    ('>', "100010001010100"),
    ('=', "000111000111000"),
    ('_', "000000000000111"),
    ('#', "101111101111101"),
];

/// Shown for characters the font lacks.
const UNKNOWN: &str = "111001010000010";

fn glyph(c: char) -> &'static str {
    let c = c.to_ascii_uppercase();
    GLYPHS.iter().find(|(g, _)| *g == c).map(|(_, bits)| *bits).unwrap_or(UNKNOWN)
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    (text.chars().count() as u32 * 4).saturating_sub(1) * scale
}

/// Draws `text` with its top-left corner at `(x, y)`, each font pixel a `scale`×`scale` square;
/// what falls outside the image is cut off.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: Rgb<u8>) {
    let s = scale as i64;
    for (k, c) in text.chars().enumerate() {
        let gx = x + k as i64 * 4 * s;
        for (i, bit) in glyph(c).bytes().enumerate() {
            if bit != b'1' {
                continue;
            }
            let (col, row) = ((i % 3) as i64, (i / 3) as i64);
            for dy in 0..s {
                for dx in 0..s {
                    let (px, py) = (gx + col * s + dx, y + row * s + dy);
                    if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                        img.put_pixel(px as u32, py as u32, color);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_are_well_formed_and_drawn_in_place() {
        for (c, bits) in GLYPHS {
            assert!(bits.len() == 15 && bits.bytes().all(|b| b == b'0' || b == b'1'), "{c}");
        }
        let mut img = RgbImage::new(20, 10);
        draw_text(&mut img, 1, 1, "1-", 1, Rgb([255, 255, 255]));
        // '1': the top row is 010, so pixel (2, 1) is ink and (1, 1) is not.
        assert_eq!((img.get_pixel(2, 1)[0], img.get_pixel(1, 1)[0]), (255, 0));
        // '-': the middle row of the second glyph, 4 pixels to the right.
        assert_eq!(img.get_pixel(5, 3)[0], 255);
        assert_eq!(text_width("ab", 2), 14);
        draw_text(&mut img, 18, 8, "W~", 3, Rgb([1, 1, 1])); // clipped, no panic
    }
}
