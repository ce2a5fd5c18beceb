//! COCO polygon JSON (`images`, `annotations`, `categories`), the form in which upstream reads
//! the trainval/test sets of several datasets through mmdet's `CocoDataset`, with its filters.
//!
//! An annotation's `segmentation[0]` is the object polygon: four points are kept as the quad,
//! longer polygons become their minimum-area rectangle (upstream converts every mask with
//! `cv2.minAreaRect`). mmdet drops `ignore` boxes, boxes with no overlap with the image and boxes
//! with `w < 1`, `h < 1` or `area <= 0`; those are counted in [`Dropped`]. `iscrowd` boxes are
//! mmdet's ignored instances: they are kept with difficulty [`CROWD_DIFFICULTY`], above the
//! `diff_thr = 100` past which mmrotate's evaluation (and ours) ignores an object.

use crate::{image_meta, ClassIndex, Problems};
use lmmrotate_abi::{ErrorKind, Object, PluginError, Quad, Sample};
use lmmrotate_geometry::min_area_rect;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Difficulty given to `iscrowd` objects: evaluated as ignored (neither TP nor FP).
pub const CROWD_DIFFICULTY: u32 = 1000;

#[derive(Deserialize)]
struct CocoFile {
    images: Vec<Value>,
    annotations: Vec<Value>,
    categories: Vec<Value>,
}

#[derive(Deserialize)]
struct CocoImage {
    id: Value,
    file_name: String,
    width: f64,
    height: f64,
}

#[derive(Deserialize)]
struct CocoCategory {
    id: Value,
    name: String,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    image_id: Value,
    category_id: Value,
    bbox: [f64; 4],
    /// mmdet requires it; a file without it gets `w * h`, the area of the box.
    #[serde(default)]
    area: Option<f64>,
    #[serde(default)]
    iscrowd: Value,
    #[serde(default)]
    ignore: Value,
    #[serde(default)]
    segmentation: Value,
}

/// What mmdet's loader leaves out, by reason; none of it is bad input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dropped {
    /// Annotations with a true `ignore` key.
    pub ignore: usize,
    /// Boxes with no overlap with the image.
    pub outside: usize,
    /// Boxes with `w < 1`, `h < 1` or `area <= 0`.
    pub small: usize,
    /// Objects of classes the dataset leaves out on purpose (FAIR1M's `other-*`), by class.
    pub classes: BTreeMap<String, usize>,
    /// `iscrowd` objects kept with [`CROWD_DIFFICULTY`].
    pub crowd: usize,
}

impl Dropped {
    /// One line for the log, or `None` when nothing was left out or marked.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.ignore, "with `ignore`"),
            (self.outside, "outside the image"),
            (self.small, "with w < 1, h < 1 or area <= 0"),
        ] {
            if n > 0 {
                parts.push(format!("{n} dropped {what}"));
            }
        }
        for (class, n) in &self.classes {
            parts.push(format!("{n} of class {class:?} skipped"));
        }
        if self.crowd > 0 {
            parts.push(format!("{} iscrowd kept as ignored (difficulty {CROWD_DIFFICULTY})", self.crowd));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Samples in the order of `images`, and what was left out.
#[derive(Debug)]
pub struct CocoRead {
    pub samples: Vec<Sample>,
    pub dropped: Dropped,
}

/// How to read one COCO file.
pub struct CocoOptions<'a> {
    pub classes: &'a ClassIndex,
    /// Folders the `file_name`s are looked up in, first match wins (RSAR's `trainval` is the
    /// `train` and `val` folders).
    pub image_dirs: &'a [PathBuf],
    /// Category names skipped and counted rather than reported as unknown classes.
    pub skip_class: fn(&str) -> bool,
}

/// Python truthiness of a JSON value, as `ann.get('iscrowd', False)` sees it.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A JSON id as a map key (ids are numbers in COCO, strings in some converters).
fn key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The object's quad from `segmentation[0]`; crowd regions without a polygon (RLE) use `bbox`.
fn quad_of(ann: &CocoAnnotation, crowd: bool) -> Result<Quad, String> {
    let poly = ann.segmentation.get(0).and_then(Value::as_array);
    let Some(poly) = poly else {
        if crowd {
            let [x, y, w, h] = ann.bbox.map(|v| v as f32);
            return Ok(Quad::new([x, y, x + w, y, x + w, y + h, x, y + h]));
        }
        return Err("`segmentation` is not a list of polygons ([[x1, y1, x2, y2, ...]])".into());
    };
    let coords: Option<Vec<f64>> = poly.iter().map(Value::as_f64).collect();
    let coords = coords.ok_or("`segmentation[0]` holds a value that is not a number")?;
    if coords.len() < 6 || coords.len() % 2 != 0 || coords.iter().any(|v| !v.is_finite()) {
        return Err(format!("`segmentation[0]` needs at least 3 finite (x, y) points, has {} values", coords.len()));
    }
    if coords.len() == 8 {
        return Ok(Quad::new(std::array::from_fn(|i| coords[i] as f32)));
    }
    let pts: Vec<[f64; 2]> = coords.chunks(2).map(|c| [c[0], c[1]]).collect();
    Ok(Quad::new(min_area_rect(&pts).to_quad()))
}

/// Reads `path`. A file that is not valid COCO JSON is an error with its line; each bad image or
/// annotation entry goes to `problems` named by its key (`annotations[12] (id 40)`).
pub fn read_coco(path: &Path, opts: &CocoOptions<'_>, problems: &mut Problems) -> Result<CocoRead, PluginError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PluginError::from_std(ErrorKind::IO, &e).context(format!("reading COCO file {}", path.display())))?;
    let file: CocoFile = serde_json::from_str(&text).map_err(|e| {
        PluginError::new(ErrorKind::PARSE, format!("{}:{}: not a COCO JSON with images, annotations, categories: {e}", path.display(), e.line()))
    })?;
    let at = |what: String| format!("{}: {what}", path.display());

    let mut categories: HashMap<String, (String, Option<u32>)> = HashMap::new();
    for (i, c) in file.categories.into_iter().enumerate() {
        match serde_json::from_value::<CocoCategory>(c) {
            Ok(c) => {
                let id = opts.classes.get(&c.name);
                categories.insert(key(&c.id), (c.name, id));
            }
            Err(e) => problems.report(ErrorKind::PARSE, at(format!("categories[{i}]: {e}")))?,
        }
    }

    // Image key -> (index in `samples`, width and height from the JSON).
    let mut images: HashMap<String, (usize, f64, f64)> = HashMap::new();
    let mut samples = Vec::with_capacity(file.images.len());
    for (i, img) in file.images.into_iter().enumerate() {
        let img = match serde_json::from_value::<CocoImage>(img) {
            Ok(m) => m,
            Err(e) => {
                problems.report(ErrorKind::PARSE, at(format!("images[{i}]: {e}")))?;
                continue;
            }
        };
        let k = key(&img.id);
        if images.contains_key(&k) {
            problems.report(ErrorKind::PARSE, at(format!("images[{i}]: a second image with id {k}")))?;
            continue;
        }
        let Some(file_path) = opts.image_dirs.iter().map(|d| d.join(&img.file_name)).find(|p| p.is_file()) else {
            let dirs: Vec<String> = opts.image_dirs.iter().map(|d| d.display().to_string()).collect();
            problems.report(ErrorKind::IO, at(format!("images[{i}]: {:?} not found in {}", img.file_name, dirs.join(", "))))?;
            continue;
        };
        let meta = match image_meta(&file_path) {
            Ok(m) => m,
            Err(msg) => {
                problems.report(ErrorKind::IO, at(format!("images[{i}]: {msg}")))?;
                continue;
            }
        };
        if (meta.width as f64, meta.height as f64) != (img.width, img.height) {
            problems.report(
                ErrorKind::PARSE,
                at(format!(
                    "images[{i}]: width x height {} x {} differ from the image file's {} x {}",
                    img.width, img.height, meta.width, meta.height
                )),
            )?;
            continue;
        }
        images.insert(k, (samples.len(), img.width, img.height));
        samples.push(Sample { image: meta, objects: Default::default() });
    }

    let mut dropped = Dropped::default();
    let mut objects: Vec<Vec<Object>> = vec![Vec::new(); samples.len()];
    for (i, ann) in file.annotations.into_iter().enumerate() {
        let name = match ann.get("id") {
            Some(id) => format!("annotations[{i}] (id {})", key(id)),
            None => format!("annotations[{i}]"),
        };
        let ann = match serde_json::from_value::<CocoAnnotation>(ann) {
            Ok(a) => a,
            Err(e) => {
                problems.report(ErrorKind::PARSE, at(format!("{name}: {e}")))?;
                continue;
            }
        };
        // Annotations of images reported above are not reported again.
        let Some(&(slot, w_img, h_img)) = images.get(&key(&ann.image_id)) else {
            continue;
        };
        // mmdet's order of checks (CocoDataset.parse_data_info).
        if truthy(&ann.ignore) {
            dropped.ignore += 1;
            continue;
        }
        let [x, y, w, h] = ann.bbox;
        let inter_w = ((x + w).min(w_img) - x.max(0.0)).max(0.0);
        let inter_h = ((y + h).min(h_img) - y.max(0.0)).max(0.0);
        if inter_w * inter_h == 0.0 {
            dropped.outside += 1;
            continue;
        }
        if ann.area.unwrap_or(w * h) <= 0.0 || w < 1.0 || h < 1.0 {
            dropped.small += 1;
            continue;
        }
        let class_id = match categories.get(&key(&ann.category_id)) {
            Some((_, Some(id))) => *id,
            Some((cat, None)) if (opts.skip_class)(cat) => {
                *dropped.classes.entry(cat.clone()).or_default() += 1;
                continue;
            }
            Some((cat, None)) => {
                let msg = format!("{name}: category {cat:?} is not a class (classes: {})", opts.classes.describe());
                problems.report(ErrorKind::PARSE, at(msg))?;
                continue;
            }
            None => {
                let msg = format!("{name}: category_id {} is not in `categories`", key(&ann.category_id));
                problems.report(ErrorKind::PARSE, at(msg))?;
                continue;
            }
        };
        let crowd = truthy(&ann.iscrowd);
        let quad = match quad_of(&ann, crowd) {
            Ok(q) => q,
            Err(msg) => {
                problems.report(ErrorKind::PARSE, at(format!("{name}: {msg}")))?;
                continue;
            }
        };
        let difficulty = if crowd {
            dropped.crowd += 1;
            CROWD_DIFFICULTY
        } else {
            0
        };
        objects[slot].push(Object { quad, class_id, difficulty });
    }
    for (s, o) in samples.iter_mut().zip(objects) {
        s.objects = o.into();
    }
    Ok(CocoRead { samples, dropped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::png_header;

    fn never(_: &str) -> bool {
        false
    }

    fn other(name: &str) -> bool {
        name.starts_with("other")
    }

    fn setup(json: &str) -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let imgs = dir.path().join("images");
        std::fs::create_dir_all(&imgs).unwrap();
        std::fs::write(imgs.join("a.png"), png_header(100, 50)).unwrap();
        std::fs::write(imgs.join("b.png"), png_header(20, 20)).unwrap();
        let p = dir.path().join("c.json");
        std::fs::write(&p, json).unwrap();
        (dir, p, vec![imgs])
    }

    fn ann(id: u32, image: u32, cat: u32, bbox: [f64; 4], extra: &str) -> String {
        format!(
            r#"{{"id": {id}, "image_id": {image}, "category_id": {cat}, "bbox": {bbox:?}, "area": 10, "segmentation": [[1,1, 9,1, 9,5, 1,5]]{extra}}}"#
        )
    }

    #[test]
    fn reads_polygons_and_applies_mmdets_filters() {
        let anns = [
            ann(1, 1, 2, [1., 1., 8., 4.], ""),
            ann(2, 1, 1, [1., 1., 8., 4.], r#", "iscrowd": 1"#),
            ann(3, 1, 1, [1., 1., 0.5, 4.], ""),
            ann(4, 1, 1, [200., 1., 8., 4.], ""),
            ann(5, 1, 1, [1., 1., 8., 4.], r#", "ignore": true"#),
            ann(6, 1, 9, [1., 1., 8., 4.], ""),
            // A hexagon: its minimum-area rectangle.
            r#"{"id": 7, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 2], "area": 6, "segmentation": [[0,0, 2,0, 4,1, 2,2, 0,2, 0,1]]}"#.into(),
            // Crowd RLE: the bbox.
            r#"{"id": 8, "image_id": 1, "category_id": 1, "bbox": [2, 2, 4, 3], "area": 6, "iscrowd": 1, "segmentation": {"counts": [1], "size": [50, 100]}}"#.into(),
        ];
        let json = format!(
            r#"{{"images": [{{"id": 2, "file_name": "b.png", "width": 20, "height": 20}}, {{"id": 1, "file_name": "a.png", "width": 100, "height": 50}}],
                "categories": [{{"id": 1, "name": "ship"}}, {{"id": 2, "name": "plane"}}, {{"id": 9, "name": "other-ship"}}],
                "annotations": [{}]}}"#,
            anns.join(",\n")
        );
        let (_d, p, dirs) = setup(&json);
        let classes = ClassIndex::new(&["plane", "ship"]);
        let opts = CocoOptions { classes: &classes, image_dirs: &dirs, skip_class: other };
        let mut problems = Problems::new(false);
        let r = read_coco(&p, &opts, &mut problems).unwrap();
        assert_eq!(r.samples.len(), 2);
        assert_eq!(r.samples[0].image.id.as_str(), "b");
        assert!(r.samples[0].objects.is_empty());
        let o = &r.samples[1].objects;
        assert_eq!(o.len(), 4);
        assert_eq!((o[0].class_id, o[0].difficulty, o[0].quad.pts), (0, 0, [1., 1., 9., 1., 9., 5., 1., 5.]));
        assert_eq!((o[1].class_id, o[1].difficulty), (1, CROWD_DIFFICULTY));
        let mut xs: Vec<f32> = o[2].quad.pts.iter().step_by(2).copied().collect();
        xs.sort_by(f32::total_cmp);
        assert!((xs[0] - 0.0).abs() < 1e-4 && (xs[3] - 4.0).abs() < 1e-4, "{:?}", o[2].quad);
        assert_eq!(o[3].quad.pts, [2., 2., 6., 2., 6., 5., 2., 5.]);
        let want = Dropped { ignore: 1, outside: 1, small: 1, classes: [("other-ship".into(), 1)].into(), crowd: 2 };
        assert_eq!(r.dropped, want);
        assert!(r.dropped.describe().unwrap().contains("1 of class \"other-ship\" skipped"));
    }

    #[test]
    fn bad_json_names_the_line_and_bad_entries_their_key() {
        let (_d, p, dirs) = setup("{\"images\": [],\n \"annotations\": [,]}");
        let classes = ClassIndex::new(&["ship"]);
        let opts = CocoOptions { classes: &classes, image_dirs: &dirs, skip_class: never };
        let e = read_coco(&p, &opts, &mut Problems::new(true)).unwrap_err().to_string();
        assert!(e.contains("c.json:2:"), "{e}");

        let json = r#"{"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50},
            {"id": 2, "file_name": "gone.png", "width": 1, "height": 1},
            {"id": 3, "file_name": "b.png", "width": 21, "height": 20}, {"id": 4}],
          "categories": [{"id": 1, "name": "ship"}, {"id": 2, "name": "boat"}],
          "annotations": [{"id": 10, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5], "area": 25, "segmentation": [[1,1,6,1,6,6,1,6]]},
            {"id": 11, "image_id": 1, "category_id": 1, "area": 25},
            {"id": 12, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25, "segmentation": [[1,1,6,1]]},
            {"id": 13, "image_id": 1, "category_id": 5, "bbox": [1, 1, 5, 5], "area": 25, "segmentation": [[1,1,6,1,6,6,1,6]]}]}"#;
        let (_d, p, dirs) = setup(json);
        let opts = CocoOptions { classes: &classes, image_dirs: &dirs, skip_class: never };
        let e = read_coco(&p, &opts, &mut Problems::new(false)).unwrap_err().to_string();
        assert!(e.contains("c.json: images[1]: \"gone.png\" not found"), "{e}");
        let mut problems = Problems::new(true);
        let r = read_coco(&p, &opts, &mut problems).unwrap();
        assert_eq!(r.samples.len(), 1);
        let p = problems.into_vec();
        assert_eq!(p.len(), 7, "{p:#?}");
        assert!(p[1].contains("images[2]") && p[1].contains("21 x 20 differ"));
        assert!(p[2].contains("images[3]") && p[2].contains("missing field `file_name`"));
        assert!(p[3].contains("annotations[0] (id 10)") && p[3].contains("\"boat\" is not a class"));
        assert!(p[4].contains("annotations[1] (id 11)") && p[4].contains("missing field `bbox`"));
        assert!(p[5].contains("annotations[2] (id 12)") && p[5].contains("at least 3"));
        assert!(p[6].contains("annotations[3] (id 13)") && p[6].contains("category_id 5"));
    }
}
