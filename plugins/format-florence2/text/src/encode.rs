//! The training-target encoder, as upstream `main_convert_data_to_florence2fmt`
//! (`playground/convert_dota_for_sft.py`): vertex order, quantisation, class names, ordering.

use crate::{pychar, NONE_RESPONSE};
use lmmrotate_abi::{ClassTable, ErrorKind, ImageMeta, Object, PluginError};
use lmmrotate_geometry::quantize::{quantize, Precision};
use std::fmt::Write;

/// Response format version (upstream `version`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Version {
    /// No separator between boxes of one class; images without objects dropped.
    V1,
    /// `<sep>` between boxes of one class; images without objects dropped (all released models).
    V2,
    /// As v2, and images without objects become `There are none.`.
    V3,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    pub version: Version,
    /// float64 reproduces upstream for float coordinates in the COCO JSON, float32 for integer ones.
    pub precision: Precision,
}

/// One class group of an image: the normalised class name and its boxes as bins, in upstream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub boxes: Vec<[u32; 8]>,
}

/// Upstream `normalize_polygon(poly, clockwise=False)`: sort the corners by their angle around the
/// centroid, descending (counter-clockwise as displayed, y pointing down), then start at the
/// corner with the smallest (y, x). Python's sort is stable, so equal angles keep input order.
pub fn normalize_polygon(pts: [f64; 8]) -> [f64; 8] {
    let mut p: Vec<(f64, f64)> = (0..4).map(|i| (pts[2 * i], pts[2 * i + 1])).collect();
    // Summed left to right and divided, as `sum(...) / 4`.
    let cx = (p[0].0 + p[1].0 + p[2].0 + p[3].0) / 4.0;
    let cy = (p[0].1 + p[1].1 + p[2].1 + p[3].1) / 4.0;
    let angle = |q: &(f64, f64)| (q.1 - cy).atan2(q.0 - cx);
    // Finite inputs give finite angles; -0.0 and 0.0 compare equal as in Python.
    p.sort_by(|a, b| angle(b).partial_cmp(&angle(a)).unwrap_or(std::cmp::Ordering::Equal));
    let mut start = 0;
    for i in 1..4 {
        if (p[i].1, p[i].0) < (p[start].1, p[start].0) {
            start = i;
        }
    }
    let mut out = [0.0; 8];
    for k in 0..4 {
        let (x, y) = p[(start + k) % 4];
        out[2 * k] = x;
        out[2 * k + 1] = y;
    }
    out
}

/// The class groups of an image in upstream order: categories by their rank in the names sorted
/// by `s.replace("-", " ")`, boxes by (y, x) bin of their first corner; ties keep input order.
pub fn encode_groups(
    objects: &[Object],
    image: &ImageMeta,
    classes: &ClassTable,
    precision: Precision,
) -> Result<Vec<Group>, PluginError> {
    let names: Vec<&str> = classes.names.iter().map(|s| s.as_str()).collect();
    let mut sorted: Vec<&str> = names.clone();
    sorted.sort_by_key(|s| s.replace('-', " "));
    // `cat_names.index(name)`: the first position holding that name.
    let rank: Vec<usize> = names.iter().map(|n| sorted.iter().position(|s| s == n).unwrap_or(0)).collect();
    let (w, h) = (image.width as f64, image.height as f64);

    let mut items: Vec<(usize, [u32; 8], String)> = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        let name = classes.name(o.class_id).ok_or_else(|| {
            PluginError::new(
                ErrorKind::INVALID_CONFIG,
                format!(
                    "image `{}`, object {i}: class id {} is not in the class table ({} classes)",
                    image.id,
                    o.class_id,
                    classes.len()
                ),
            )
        })?;
        if o.quad.pts.iter().any(|v| !v.is_finite()) {
            return Err(PluginError::new(
                ErrorKind::PARSE,
                format!("image `{}`, object {i}: non-finite coordinate in {:?}", image.id, o.quad.pts),
            ));
        }
        let pts = normalize_polygon(o.quad.pts.map(f64::from));
        let mut q = [0u32; 8];
        for k in 0..4 {
            q[2 * k] = quantize(pts[2 * k], w, precision);
            q[2 * k + 1] = quantize(pts[2 * k + 1], h, precision);
        }
        items.push((rank[o.class_id as usize], q, pychar::lower(&name.replace('-', " "))));
    }
    items.sort_by_key(|(r, q, _)| (*r, q[1], q[0]));

    // A new group starts whenever the normalised name changes (upstream compares names, not ids).
    let mut groups: Vec<Group> = Vec::new();
    for (_, q, name) in items {
        match groups.last_mut() {
            Some(g) if g.name == name => g.boxes.push(q),
            _ => groups.push(Group { name, boxes: vec![q] }),
        }
    }
    Ok(groups)
}

/// The response text of an image; `None` where upstream drops the image (v1/v2 without objects).
pub fn encode(
    objects: &[Object],
    image: &ImageMeta,
    classes: &ClassTable,
    options: EncodeOptions,
) -> Result<Option<String>, PluginError> {
    let groups = encode_groups(objects, image, classes, options.precision)?;
    if groups.is_empty() {
        return Ok((options.version == Version::V3).then(|| NONE_RESPONSE.to_string()));
    }
    let mut out = String::with_capacity(objects.len() * 90);
    for g in &groups {
        out.push_str(&g.name);
        for (i, b) in g.boxes.iter().enumerate() {
            if i > 0 && options.version != Version::V1 {
                out.push_str("<sep>");
            }
            for v in b {
                // Writing into a String cannot fail.
                let _ = write!(out, "<loc_{v}>");
            }
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_matches_worked_example() {
        // upstream.md §2.4, plane A and plane B.
        assert_eq!(
            normalize_polygon([100., 200., 180., 190., 190., 260., 110., 270.]),
            [180., 190., 100., 200., 110., 270., 190., 260.]
        );
        assert_eq!(
            normalize_polygon([300., 50., 360., 50., 360., 100., 300., 100.]),
            [300., 50., 300., 100., 360., 100., 360., 50.]
        );
    }
}
