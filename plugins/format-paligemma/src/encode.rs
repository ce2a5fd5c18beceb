//! Training targets: florence2 v2's vertex order and object order, PaliGemma's 1024 location bins
//! with y before x, and one class name after every box.

use lmmrotate_abi::{ClassTable, ErrorKind, ImageMeta, Object, PluginError};
use lmmrotate_florence2_text::{normalize_polygon, pychar};
use std::fmt::Write;

/// Location bins of PaliGemma's vocabulary (`<loc0000>` … `<loc1023>`).
pub const BINS: u32 = 1024;
/// Between two objects, as PaliGemma's own detection output.
pub const SEPARATOR: &str = " ; ";

/// `clamp(floor(v · 1024 / size), 0, 1023)`: the bin whose span `[b, b+1) · size / 1024` holds v.
pub fn quantize(v: f64, size: f64) -> u32 {
    let b = (v * BINS as f64 / size).floor();
    if b.is_nan() {
        0
    } else {
        b.clamp(0.0, (BINS - 1) as f64) as u32
    }
}

/// The centre of bin `b`: `(b + 0.5) · size / 1024`.
pub fn dequantize(b: u32, size: f64) -> f32 {
    ((b as f64 + 0.5) * size / BINS as f64) as f32
}

/// One object: its class name (lower case, `-` as space) and its corners as (y, x) bins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub bins: [u32; 8],
}

/// The objects of an image in florence2 v2's order: classes by rank in the names sorted by
/// `replace('-', ' ')`, then by the (y, x) bin of the first corner; ties keep input order.
pub fn entries(objects: &[Object], image: &ImageMeta, classes: &ClassTable) -> Result<Vec<Entry>, PluginError> {
    let names: Vec<&str> = classes.names.iter().map(|s| s.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|s| s.replace('-', " "));
    let rank: Vec<usize> = names.iter().map(|n| sorted.iter().position(|s| s == n).unwrap_or(0)).collect();
    let (w, h) = (image.width as f64, image.height as f64);
    let mut items = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        let name = classes.name(o.class_id).ok_or_else(|| {
            PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!("image `{}`, object {i}: class id {} is not in the class table ({} classes)", image.id, o.class_id, classes.len()),
            )
        })?;
        if o.quad.pts.iter().any(|v| !v.is_finite()) {
            return Err(PluginError::new(ErrorKind::PARSE, format!("image `{}`, object {i}: non-finite coordinate in {:?}", image.id, o.quad.pts)));
        }
        let p = normalize_polygon(o.quad.pts.map(f64::from));
        let mut bins = [0u32; 8];
        for k in 0..4 {
            bins[2 * k] = quantize(p[2 * k + 1], h);
            bins[2 * k + 1] = quantize(p[2 * k], w);
        }
        items.push((rank[o.class_id as usize], bins, pychar::lower(&name.replace('-', " "))));
    }
    items.sort_by_key(|(r, b, _)| (*r, b[0], b[1]));
    Ok(items.into_iter().map(|(_, bins, name)| Entry { name, bins }).collect())
}

/// The response text; an image without objects gives the empty text (PaliGemma's "nothing
/// detected" is the bare `<eos>`), so it still trains the model to stop.
pub fn encode(objects: &[Object], image: &ImageMeta, classes: &ClassTable) -> Result<String, PluginError> {
    let mut out = String::with_capacity(objects.len() * 84);
    for (i, e) in entries(objects, image, classes)?.iter().enumerate() {
        if i > 0 {
            out.push_str(SEPARATOR);
        }
        for b in e.bins {
            // Writing into a String cannot fail.
            let _ = write!(out, "<loc{b:04}>");
        }
        out.push(' ');
        out.push_str(&e.name);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmmrotate_abi::Quad;

    fn image() -> ImageMeta {
        ImageMeta { id: "a".into(), path: "a.png".into(), width: 1024, height: 512 }
    }

    #[test]
    fn bins_floor_and_clamp() {
        assert_eq!(quantize(0.0, 1024.0), 0);
        assert_eq!(quantize(511.99, 1024.0), 511);
        assert_eq!(quantize(512.0, 1024.0), 512);
        assert_eq!(quantize(1024.0, 1024.0), 1023);
        assert_eq!(quantize(-3.0, 1024.0), 0);
        assert_eq!(quantize(100.0, 512.0), 200);
        assert_eq!(dequantize(200, 512.0), 100.25);
    }

    #[test]
    fn worked_example() {
        // Class table order ≠ sorted order: "small-vehicle" sorts after "plane".
        let classes = ClassTable::from_names(&["small-vehicle", "plane"]);
        let objects = [
            // plane B (florence2 v2's example): corners already start at the smallest (y, x).
            Object { quad: Quad::new([300., 50., 360., 50., 360., 100., 300., 100.]), class_id: 1, difficulty: 0 },
            Object { quad: Quad::new([512., 256., 520., 256., 520., 260., 512., 260.]), class_id: 0, difficulty: 0 },
            // plane A: normalised to start at (180, 190), counter-clockwise as displayed.
            Object { quad: Quad::new([100., 200., 180., 190., 190., 260., 110., 270.]), class_id: 1, difficulty: 0 },
        ];
        // Image 1024 × 512: x bin = floor(x), y bin = floor(2y).
        // plane B: (300,50) (300,100) (360,100) (360,50) → y,x bins 100,300 200,300 200,360 100,360.
        // plane A: (180,190) (100,200) (110,270) (190,260) → 380,180 400,100 540,110 520,190.
        // plane B sorts first (y bin 100 < 380); the vehicle group comes after the planes.
        let want = "<loc0100><loc0300><loc0200><loc0300><loc0200><loc0360><loc0100><loc0360> plane ; \
                    <loc0380><loc0180><loc0400><loc0100><loc0540><loc0110><loc0520><loc0190> plane ; \
                    <loc0512><loc0512><loc0520><loc0512><loc0520><loc0520><loc0512><loc0520> small vehicle";
        assert_eq!(encode(&objects, &image(), &classes).unwrap(), want);
        assert_eq!(encode(&[], &image(), &classes).unwrap(), "");
        let bad = [Object { quad: Quad::default(), class_id: 5, difficulty: 0 }];
        assert!(encode(&bad, &image(), &classes).unwrap_err().to_string().contains("class id 5"));
    }
}
