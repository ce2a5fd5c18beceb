//! Reading model output: every maximal run of `<locNNNN>` tokens followed by its label (the text up
//! to the next run or `;`) is one instance; its values are cut into boxes of 8 (y, x) bins. The
//! label is matched to a class as florence2 v2 does (exact normalised name, else WRatio). Never
//! fails: whatever cannot make a box is counted in `dropped`, by reason, in loc values.

use crate::encode::{dequantize, BINS};
use lmmrotate_abi::{abi_stable::std_types::RNone, ClassTable, Detection, ImageMeta, Quad};
pub use lmmrotate_florence2_text::DecodedText;
use lmmrotate_florence2_text::{pychar, ClassMap, Unmatched};

pub const EMPTY_LABEL: &str = "loc value of a run with no label after it";
pub const PARTIAL_BOX: &str = "loc value in a run tail shorter than a box (8 values)";
pub const BIN_OUT_OF_RANGE: &str = "loc value of a box with a bin above 1023";
pub const BELOW_CUTOFF: &str = "loc value of a label whose best fuzzy score is below fuzzy_cutoff";
pub const NO_CLASSES: &str = "loc value of a label with no class to match (empty class table)";

/// `<loc` digits `>` at the start of `s`: the value (saturating) and the byte length.
fn loc_token(s: &str) -> Option<(u64, usize)> {
    let rest = s.strip_prefix("<loc")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.as_bytes().get(digits) != Some(&b'>') {
        return None;
    }
    let v = rest[..digits].bytes().fold(0u64, |a, d| a.saturating_mul(10).saturating_add((d - b'0') as u64));
    Some((v, 4 + digits + 1))
}

/// One run of loc values and the label text after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub values: Vec<u64>,
    pub label: String,
}

/// Splits a response into instances (special tokens `<eos>`, `<pad>`, `<bos>` removed first).
pub fn parse(text: &str) -> Vec<Instance> {
    let text = text.replace("<eos>", "").replace("<pad>", "").replace("<bos>", "");
    let mut out: Vec<Instance> = Vec::new();
    let mut i = 0;
    let s = text.as_str();
    let mut current: Option<Instance> = None;
    while i < s.len() {
        if let Some((v, len)) = loc_token(&s[i..]) {
            // A loc token after label text starts a new instance.
            match &mut current {
                Some(inst) if inst.label.is_empty() => inst.values.push(v),
                _ => {
                    out.extend(current.take());
                    current = Some(Instance { values: vec![v], label: String::new() });
                }
            }
            i += len;
            continue;
        }
        let c = s[i..].chars().next().expect("in bounds");
        if c == ';' {
            out.extend(current.take());
        } else if let Some(inst) = &mut current {
            inst.label.push(c);
        }
        i += c.len_utf8();
    }
    out.extend(current);
    for inst in &mut out {
        inst.label = pychar::strip(&inst.label).to_string();
    }
    out
}

pub fn decode(text: &str, image: &ImageMeta, classes: &ClassTable, fuzzy_cutoff: Option<f64>) -> DecodedText {
    let map = ClassMap::new(classes);
    let mut out = DecodedText::default();
    for inst in parse(text) {
        let n = inst.values.len();
        out.loc_tokens += n;
        if inst.label.is_empty() {
            out.drops.add(EMPTY_LABEL, n);
            continue;
        }
        let class_id = match map.resolve(&inst.label, fuzzy_cutoff, &mut out.fuzzy) {
            Ok(id) => id,
            Err(miss) => {
                out.drops.add(if miss == Unmatched::NoClasses { NO_CLASSES } else { BELOW_CUTOFF }, n);
                continue;
            }
        };
        let boxes = inst.values.chunks_exact(8);
        out.drops.add(PARTIAL_BOX, boxes.remainder().len());
        for b in boxes {
            if b.iter().any(|&v| v >= BINS as u64) {
                out.drops.add(BIN_OUT_OF_RANGE, 8);
                continue;
            }
            let mut pts = [0f32; 8];
            for k in 0..4 {
                pts[2 * k] = dequantize(b[2 * k + 1] as u32, image.width as f64);
                pts[2 * k + 1] = dequantize(b[2 * k] as u32, image.height as f64);
            }
            out.detections.push(Detection { quad: Quad::new(pts), class_id, score: RNone });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageMeta {
        ImageMeta { id: "a".into(), path: "a.png".into(), width: 1024, height: 512 }
    }

    #[test]
    fn reads_the_worked_example_back() {
        let classes = ClassTable::from_names(&["small-vehicle", "plane"]);
        let text = "<loc0100><loc0300><loc0200><loc0300><loc0200><loc0360><loc0100><loc0360> plane ; \
                    <loc0512><loc0512><loc0520><loc0512><loc0520><loc0520><loc0512><loc0520> small vehicle<eos>";
        let d = decode(text, &image(), &classes, None);
        assert_eq!(d.detections.len(), 2);
        // Bin centres: x = b + 0.5; y = (b + 0.5) / 2.
        assert_eq!(d.detections[0].quad.pts, [300.5, 50.25, 300.5, 100.25, 360.5, 100.25, 360.5, 50.25]);
        assert_eq!((d.detections[0].class_id, d.detections[1].class_id), (1, 0));
        assert_eq!(d.drops.total(), 0);
        assert!(d.fuzzy.is_empty());
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let classes = ClassTable::from_names(&["plane", "ship"]);
        let l8 = "<loc0001>".repeat(8);
        // Missing `;` between two objects, a misspelt label, a short run, a run without label,
        // an out-of-range bin, a broken token and stray text.
        let text = format!("junk {l8} shipp{l8} plane ; <loc0002><loc0003> plane ; {l8};{} plane ; <loc12 <loc>", "<loc2000>".repeat(8));
        let d = decode(&text, &image(), &classes, None);
        assert_eq!(d.detections.len(), 2);
        assert_eq!((d.detections[0].class_id, d.detections[1].class_id), (1, 0));
        assert_eq!(d.fuzzy.len(), 1);
        assert_eq!(d.fuzzy[0].label.as_str(), "shipp");
        assert_eq!((d.drops.get(PARTIAL_BOX), d.drops.get(EMPTY_LABEL), d.drops.get(BIN_OUT_OF_RANGE)), (2, 8, 8));
        assert_eq!(d.loc_tokens, 16 + 2 + 8 + 8);
        assert_eq!(d.loc_tokens as u64, 8 * d.detections.len() as u64 + d.drops.total());
        // A cut-off drops the fuzzy match instead.
        let d = decode(&text, &image(), &classes, Some(95.0));
        assert_eq!((d.detections.len(), d.drops.get(BELOW_CUTOFF)), (1, 8));
        for g in ["", ";;;", "<loc", "<loc99999999999999999999999>", "plane", "\u{0661}<loc0001>é"] {
            let d = decode(g, &image(), &classes, None);
            assert!(d.detections.is_empty(), "{g}");
        }
    }
}
