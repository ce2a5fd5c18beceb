//! Training targets as upstream `florence2fmt_to_allseeingfmt` (`lmmrotate/dataset.py`): the v2
//! text is parsed at image size 1000 x 1000 and each instance written as `<ref>..</ref><box>..</box>`.

use lmmrotate_abi::{ClassTable, ImageMeta, Object, PluginError};
use lmmrotate_florence2_text::{encode, parse, EncodeOptions, ParseOptions, Version};
use lmmrotate_geometry::quantize::Precision;
use std::fmt::Write;

/// Python's `repr` of a list of int lists: `[[1, 2], [3]]`.
fn py_list_repr(polygons: &[Vec<u64>]) -> String {
    let inner: Vec<String> = polygons
        .iter()
        .map(|p| format!("[{}]", p.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")))
        .collect();
    format!("[{}]", inner.join(", "))
}

/// The allseeing response; `None` where the v2 converter drops the image (no objects).
pub fn encode_allseeing(
    objects: &[Object],
    image: &ImageMeta,
    classes: &ClassTable,
    precision: Precision,
) -> Result<Option<String>, PluginError> {
    let Some(v2) = encode(objects, image, classes, EncodeOptions { version: Version::V2, precision })? else {
        return Ok(None);
    };
    // Upstream de-quantises at size 1000 in float32 and maps back with `int(v - 0.5)`; for bins
    // 0..999, `(b + 0.5) - 0.5` is exact, so the parsed bins are the values written.
    let mut out = String::with_capacity(v2.len());
    for inst in parse(&v2, ParseOptions::default()).instances {
        // Writing into a String cannot fail.
        let _ = write!(out, "<ref>{}</ref><box>{}</box>", inst.label, py_list_repr(&inst.polygons));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_repr() {
        assert_eq!(py_list_repr(&[vec![1, 2], vec![3]]), "[[1, 2], [3]]");
    }
}
