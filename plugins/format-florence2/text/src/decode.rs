//! From response text to detections: the parser, de-quantisation, and LMMRotate's eval
//! post-processing (`postprocess_parsed_answer`: class matching, boxes of 8 values).

use crate::{
    drops::Drops,
    fuzzy,
    parse::{parse, ParseOptions, Parsed},
    pychar,
};
use lmmrotate_abi::{
    abi_stable::std_types::{RNone, RString, RVec},
    ClassTable, Decoded, Detection, FuzzyMatch, ImageMeta, Quad,
};
use lmmrotate_geometry::quantize::{dequantize, BINS};

/// Phrases that are empty after `strip()` are skipped by upstream.
pub const EMPTY_LABEL: &str = "loc value of a phrase with an empty label";
/// Only with `fuzzy_cutoff`: the best class scored below it.
pub const BELOW_CUTOFF: &str = "loc value of a label whose best fuzzy score is below fuzzy_cutoff";
/// A class table without classes (upstream's `extractOne` would return `None` and crash).
pub const NO_CLASSES: &str = "loc value of a label with no class to match (empty class table)";
/// Upstream's numpy/torch conversion overflows or yields coordinates ~1e10 px; we drop instead.
pub const BIN_TOO_LARGE: &str = "loc value of a polygon with a bin above 4294967295";
/// `for i in range(len(coords) // 8)`: a polygon's tail that is not a whole box.
pub const PARTIAL_BOX: &str = "loc value in a polygon tail shorter than a box (8 values)";

/// Arithmetic of `(b + 0.5) * size / 1000`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Dequantize {
    /// float32, as upstream's torch code (`int64 + 0.5` is float32).
    #[default]
    F32,
    /// Fix: float64, rounded to float32 once at the end.
    F64,
}

#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct DecodeOptions {
    pub parse: ParseOptions,
    pub dequantize: Dequantize,
    /// Fix: drop labels whose best WRatio score is below this (upstream has none, so any text is
    /// forced onto some class).
    pub fuzzy_cutoff: Option<f64>,
}

/// Decoded detections with the drop counts still mergeable (the allseeing format adds its own).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedText {
    pub detections: Vec<Detection>,
    pub drops: Drops,
    pub fuzzy: Vec<FuzzyMatch>,
    /// `<loc_k>` tokens seen; every one ends in a box or in `drops`.
    pub loc_tokens: usize,
}

impl DecodedText {
    pub fn into_abi(self) -> Decoded {
        Decoded { detections: RVec::from(self.detections), dropped: self.drops.to_abi(), fuzzy: RVec::from(self.fuzzy) }
    }
}

/// `cls_map = {c.replace("-", " ").lower(): i for i, c in enumerate(classes)}`: keys in first
/// insertion order, each holding the last index that produced it.
pub struct ClassMap(Vec<(String, u32)>);

/// Why a label got no class.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unmatched {
    /// The class table is empty.
    NoClasses,
    /// The best fuzzy score is below the cutoff.
    BelowCutoff,
}

impl ClassMap {
    pub fn new(classes: &ClassTable) -> Self {
        let mut keys: Vec<(String, u32)> = Vec::with_capacity(classes.len());
        for (i, c) in classes.names.iter().enumerate() {
            let key = pychar::lower(&c.replace('-', " "));
            match keys.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = i as u32,
                None => keys.push((key, i as u32)),
            }
        }
        Self(keys)
    }

    /// The class of `label`: its exact key, else `process.extractOne(label.lower(), keys)` —
    /// recorded in `fuzzy` — unless its score is below `cutoff`.
    pub fn resolve(&self, label: &str, cutoff: Option<f64>, fuzzy: &mut Vec<FuzzyMatch>) -> Result<u32, Unmatched> {
        if let Some((_, i)) = self.0.iter().find(|(k, _)| k == label) {
            return Ok(*i);
        }
        let query = pychar::lower(label);
        let (k, score) =
            fuzzy::extract_one(&query, self.0.iter().map(|(k, _)| k.as_str())).ok_or(Unmatched::NoClasses)?;
        if cutoff.is_some_and(|c| score < c) {
            return Err(Unmatched::BelowCutoff);
        }
        let id = self.0[k].1;
        fuzzy.push(FuzzyMatch { label: RString::from(label), class_id: id, score: score as f32 });
        Ok(id)
    }
}

fn dequant(b: u64, size: u32, mode: Dequantize) -> f32 {
    match mode {
        Dequantize::F32 => dequantize(b as u32, size as f64),
        Dequantize::F64 => ((b as f64 + 0.5) * (size as f64 / BINS as f64)) as f32,
    }
}

/// Decodes a response of image `image` (pixels) into detections of `classes`.
pub fn decode(text: &str, image: &ImageMeta, classes: &ClassTable, options: &DecodeOptions) -> DecodedText {
    postprocess(parse(text, options.parse), image, classes, options)
}

/// The eval post-processing of parsed instances.
pub fn postprocess(parsed: Parsed, image: &ImageMeta, classes: &ClassTable, options: &DecodeOptions) -> DecodedText {
    let map = ClassMap::new(classes);
    let mut out = DecodedText { drops: parsed.drops, loc_tokens: parsed.loc_tokens, ..Default::default() };
    for inst in parsed.instances {
        let values: usize = inst.polygons.iter().map(Vec::len).sum();
        if pychar::strip(&inst.label).is_empty() {
            out.drops.add(EMPTY_LABEL, values);
            continue;
        }
        let class_id = match map.resolve(&inst.label, options.fuzzy_cutoff, &mut out.fuzzy) {
            Ok(id) => id,
            Err(miss) => {
                out.drops.add(if miss == Unmatched::NoClasses { NO_CLASSES } else { BELOW_CUTOFF }, values);
                continue;
            }
        };
        for poly in &inst.polygons {
            if poly.iter().any(|&b| b > u32::MAX as u64) {
                out.drops.add(BIN_TOO_LARGE, poly.len());
                continue;
            }
            let boxes = poly.chunks_exact(8);
            out.drops.add(PARTIAL_BOX, boxes.remainder().len());
            for b in boxes {
                let mut pts = [0f32; 8];
                for (k, v) in b.iter().enumerate() {
                    let size = if k % 2 == 0 { image.width } else { image.height };
                    pts[k] = dequant(*v, size, options.dequantize);
                }
                out.detections.push(Detection { quad: Quad::new(pts), class_id, score: RNone });
            }
        }
    }
    out
}
