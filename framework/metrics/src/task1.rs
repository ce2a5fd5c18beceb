//! DOTA Task1 submissions: merge patch predictions back onto the original images (mmrotate's
//! `DOTAMetric.merge_results`) and write one `Task1_<class>.txt` per class.

use crate::classes::ClassIndex;
use crate::error::Task1Error;
use crate::input::PredImage;
use lmmrotate_geometry::{nms_rotated, AngleConvention, RBox};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// mmrotate's NMS threshold when merging patches.
pub const MERGE_NMS_IOU: f64 = 0.1;

/// The original image and patch offset of a patch id such as `P0000__1024__0___824`: the image
/// is the text before the first `__`, the offset the numbers of the first `__<x>___<y>` (as
/// mmrotate: `split('__')[0]` and `re.findall(r'__\d+___\d+')[0]`).
pub fn parse_patch_name(id: &str) -> Option<(String, u32, u32)> {
    let original = id.split("__").next().unwrap_or(id).to_string();
    let b = id.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > start).then_some(i)
    };
    for start in 0..b.len() {
        if !b[start..].starts_with(b"__") {
            continue;
        }
        let Some(x_end) = digits(start + 2) else { continue };
        if !b[x_end..].starts_with(b"___") {
            continue;
        }
        let Some(y_end) = digits(x_end + 3) else { continue };
        let x = id[start + 2..x_end].parse().ok()?;
        let y = id[x_end + 3..y_end].parse().ok()?;
        return Some((original, x, y));
    }
    None
}

/// The detections of one original image after merging, per class, in NMS keep order.
#[derive(Clone, Debug, PartialEq)]
pub struct MergedImage {
    pub id: String,
    pub per_class: Vec<Vec<(RBox, f32)>>,
}

/// Shifts every patch's boxes (minimum-area rectangles of the predicted quads) by the patch
/// offset, groups them by original image (in order of first appearance) and runs rotated NMS at
/// `iou_thr` ([`MERGE_NMS_IOU`] upstream) per image and class. Missing scores count as 1.0.
pub fn merge_patches(classes: usize, preds: &[PredImage], iou_thr: f64) -> Result<Vec<MergedImage>, Task1Error> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<Vec<(RBox, f32)>>> = HashMap::new();
    for p in preds {
        let (orig, x, y) = parse_patch_name(&p.id).ok_or_else(|| Task1Error::BadPatchName { id: p.id.clone() })?;
        let slot = groups.entry(orig.clone()).or_insert_with(|| {
            order.push(orig);
            vec![Vec::new(); classes]
        });
        for d in &p.detections {
            if d.class >= classes {
                return Err(Task1Error::ClassOutOfRange { id: p.id.clone(), class: d.class, classes });
            }
            let mut r = RBox::from_quad(&d.quad, AngleConvention::OpenCv);
            r.cx += x as f64;
            r.cy += y as f64;
            slot[d.class].push((r, d.score.unwrap_or(1.0)));
        }
    }
    Ok(order
        .into_iter()
        .map(|id| {
            let per_class = groups
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .map(|dets| {
                    let boxes: Vec<RBox> = dets.iter().map(|d| d.0).collect();
                    let scores: Vec<f32> = dets.iter().map(|d| d.1).collect();
                    nms_rotated(&boxes, &scores, iou_thr).into_iter().map(|i| dets[i]).collect()
                })
                .collect();
            MergedImage { id, per_class }
        })
        .collect())
}

/// One submission line: `image score x1 y1 … x4 y4`. The score is Python's
/// `str(round(score, 2))` ("1.0", "0.87"), the corners `rbox2qbox` order with 2 decimals.
pub fn task1_line(image: &str, score: f32, rbox: &RBox) -> String {
    // Rust's `{:.2}` rounds the exact binary value half-to-even like Python's round/format.
    let rounded: f64 = format!("{:.2}", score as f64).parse().expect("a formatted float parses");
    let mut s = format!("{image} {rounded:?}");
    for v in rbox.to_quad() {
        s.push_str(&format!(" {:.2}", v as f64));
    }
    s
}

/// Writes `Task1_<class>.txt` for every class (empty files included, as upstream) into `dir`
/// (created if missing) and returns their paths in class order.
pub fn write_task1(dir: &Path, classes: &ClassIndex, merged: &[MergedImage]) -> Result<Vec<PathBuf>, Task1Error> {
    std::fs::create_dir_all(dir).map_err(|source| Task1Error::Io { path: dir.to_path_buf(), source })?;
    let mut paths = Vec::with_capacity(classes.len());
    for (k, name) in classes.names().iter().enumerate() {
        let path = dir.join(format!("Task1_{name}.txt"));
        let io = |source| Task1Error::Io { path: path.clone(), source };
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
        for img in merged {
            for (r, score) in img.per_class.get(k).into_iter().flatten() {
                writeln!(out, "{}", task1_line(&img.id, *score, r)).map_err(io)?;
            }
        }
        out.flush().map_err(io)?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Detection;

    #[test]
    fn patch_names() {
        assert_eq!(parse_patch_name("P0000__1024__0___824"), Some(("P0000".into(), 0, 824)));
        assert_eq!(parse_patch_name("P0003__1024__2472___1648"), Some(("P0003".into(), 2472, 1648)));
        assert_eq!(parse_patch_name("P0000__0.5__100___200"), Some(("P0000".into(), 100, 200)));
        assert_eq!(parse_patch_name("P0000"), None);
        assert_eq!(parse_patch_name("P0000__1024__x___1"), None);
    }

    #[test]
    fn line_format_matches_python() {
        let r = RBox::new(5.0, 2.5, 10.0, 4.0, 0.0);
        assert_eq!(task1_line("P1", 1.0, &r), "P1 1.0 10.00 4.50 10.00 0.50 0.00 0.50 0.00 4.50");
        // round(0.875, 2) == 0.88 (exact tie, half-to-even), round(0.5, 2) -> "0.5"
        assert!(task1_line("P1", 0.875, &r).starts_with("P1 0.88 "));
        assert!(task1_line("P1", 0.5, &r).starts_with("P1 0.5 "));
        assert!(task1_line("P1", 0.123, &r).starts_with("P1 0.12 "));
    }

    #[test]
    fn merge_shifts_and_suppresses() {
        let q = |x: f32, y: f32| [x, y, x + 10.0, y, x + 10.0, y + 4.0, x, y + 4.0];
        let preds = vec![
            PredImage {
                id: "P7__1024__0___0".into(),
                detections: vec![Detection { class: 1, quad: q(900.0, 10.0), score: None }],
            },
            PredImage {
                id: "P7__1024__824___0".into(),
                // the same object seen from the next patch (x 76 + 824 = 900), plus another one
                detections: vec![
                    Detection { class: 1, quad: q(76.0, 10.0), score: Some(0.9) },
                    Detection { class: 0, quad: q(0.0, 10.0), score: None },
                ],
            },
            PredImage { id: "P8__1024__0___0".into(), detections: vec![] },
        ];
        let m = merge_patches(2, &preds, MERGE_NMS_IOU).unwrap();
        assert_eq!(m.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["P7", "P8"]);
        assert_eq!(m[0].per_class[1].len(), 1);
        assert_eq!(m[0].per_class[1][0].1, 1.0);
        assert_eq!(m[0].per_class[0][0].0.cx, 829.0);
        assert!(matches!(
            merge_patches(2, &[PredImage { id: "P1".into(), detections: vec![] }], 0.1),
            Err(Task1Error::BadPatchName { .. })
        ));

        let dir = tempfile::tempdir().unwrap();
        let classes = ClassIndex::new(["plane", "small-vehicle"]).unwrap();
        let paths = write_task1(dir.path(), &classes, &m).unwrap();
        assert_eq!(
            std::fs::read_to_string(&paths[0]).unwrap(),
            "P7 1.0 824.00 14.00 834.00 14.00 834.00 10.00 824.00 10.00\n"
        );
        assert!(paths[1].ends_with("Task1_small-vehicle.txt"));
        assert_eq!(std::fs::read_to_string(&paths[1]).unwrap().lines().count(), 1);
    }
}
