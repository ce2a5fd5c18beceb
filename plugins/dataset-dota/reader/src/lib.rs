//! Shared pieces of the dataset plugins (a leaf crate, so that each plugin library links only
//! its own entries): listing images and reading their size from the file header, parsing DOTA
//! annotation lines, recording bad input under `skip_bad`, and a loaded dataset that serves
//! samples from memory. [`coco`] reads COCO polygon JSON, [`folder`] image folders with one
//! annotation file per image, [`config`] and [`load`] the config and loading those datasets share.

pub mod coco;
pub mod config;
pub mod folder;
pub mod load;

use lmmrotate_abi::{ClassTable, DatasetPlugin, ErrorKind, ImageMeta, Object, PluginError, Quad, Sample};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Image extensions a dataset folder may hold (compared case-insensitively).
pub const IMAGE_EXTS: [&str; 6] = ["png", "jpg", "jpeg", "tif", "tiff", "bmp"];

/// Bad input: an error at once, or (with `skip_bad`) one message per problem, kept for
/// `problems()`. Nothing is dropped without a message.
#[derive(Debug, Default)]
pub struct Problems {
    skip_bad: bool,
    list: Vec<String>,
}

impl Problems {
    pub fn new(skip_bad: bool) -> Self {
        Problems { skip_bad, list: Vec::new() }
    }

    /// Records `message` when skipping bad input, otherwise returns it as an error of `kind`.
    pub fn report(&mut self, kind: ErrorKind, message: String) -> Result<(), PluginError> {
        if self.skip_bad {
            self.list.push(message);
            Ok(())
        } else {
            Err(PluginError::new(kind, message).context("loading dataset (set \"skip_bad\": true to skip and count bad input)"))
        }
    }

    pub fn into_vec(self) -> Vec<String> {
        self.list
    }
}

/// Images directly in `dir`, sorted by file name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| PluginError::from_std(ErrorKind::IO, &e).context(format!("listing images in {}", dir.display())))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| PluginError::from_std(ErrorKind::IO, &e).context(format!("listing {}", dir.display())))?;
        let p = entry.path();
        let ext = p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if p.is_file() && ext.is_some_and(|e| IMAGE_EXTS.contains(&e.as_str())) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The file stem as a string (dataset ids are stems).
pub fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Id, path and size of an image, the size read from the file header without decoding.
pub fn image_meta(path: &Path) -> Result<ImageMeta, String> {
    let size = imagesize::size(path).map_err(|e| format!("{}: cannot read the image size: {e}", path.display()))?;
    if size.width == 0 || size.height == 0 {
        return Err(format!("{}: image has zero size", path.display()));
    }
    Ok(ImageMeta {
        id: stem(path).into(),
        path: path.to_string_lossy().into_owned().into(),
        width: size.width as u32,
        height: size.height as u32,
    })
}

/// Class name -> id, with the table it came from.
#[derive(Clone, Debug)]
pub struct ClassIndex {
    table: ClassTable,
    ids: HashMap<String, u32>,
}

impl ClassIndex {
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        let table = ClassTable::from_names(names);
        let ids = names.iter().enumerate().map(|(i, n)| (n.as_ref().to_string(), i as u32)).collect();
        ClassIndex { table, ids }
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn table(&self) -> &ClassTable {
        &self.table
    }

    pub fn describe(&self) -> String {
        self.table.names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// A class list file: one name per line, blank lines ignored.
pub fn read_class_file(path: &Path) -> Result<Vec<String>, PluginError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| PluginError::from_std(ErrorKind::IO, &e).context(format!("reading class list {}", path.display())))?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.is_empty() {
        return Err(PluginError::new(ErrorKind::PARSE, format!("class list {} is empty", path.display())));
    }
    Ok(names)
}

/// Eight finite coordinates from text fields.
pub fn parse_quad(fields: &[&str]) -> Result<Quad, String> {
    let mut pts = [0f32; 8];
    for (p, f) in pts.iter_mut().zip(fields) {
        let v: f32 = f.parse().map_err(|_| format!("bad coordinate {f:?}"))?;
        if !v.is_finite() {
            return Err(format!("non-finite coordinate {f:?}"));
        }
        *p = v;
    }
    Ok(Quad::new(pts))
}

/// One DOTA annotation line `x1 y1 ... x4 y4 class [difficulty]`: `Ok(None)` for blank lines and
/// the `imagesource:` / `gsd:` header lines of the original DOTA files.
pub fn parse_dota_line(line: &str, classes: &ClassIndex) -> Result<Option<Object>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with("imagesource:") || t.starts_with("gsd:") {
        return Ok(None);
    }
    let fields: Vec<&str> = t.split_whitespace().collect();
    if !(9..=10).contains(&fields.len()) {
        return Err(format!("expected `x1 y1 x2 y2 x3 y3 x4 y4 class [difficulty]`, got {} fields", fields.len()));
    }
    let quad = parse_quad(&fields[..8])?;
    let class_id = classes
        .get(fields[8])
        .ok_or_else(|| format!("unknown class {:?} (classes: {})", fields[8], classes.describe()))?;
    let difficulty = match fields.get(9) {
        Some(d) => d.parse::<u32>().map_err(|_| format!("bad difficulty {d:?}"))?,
        None => 0,
    };
    Ok(Some(Object { quad, class_id, difficulty }))
}

/// Reads a DOTA annfile; bad lines go to `problems` as `file:line: message`.
pub fn read_dota_annfile(path: &Path, classes: &ClassIndex, problems: &mut Problems) -> Result<Option<Vec<Object>>, PluginError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.report(ErrorKind::IO, format!("{}: cannot read: {e}", path.display()))?;
            return Ok(None);
        }
    };
    let mut objects = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_dota_line(line, classes) {
            Ok(Some(o)) => objects.push(o),
            Ok(None) => {}
            Err(msg) => problems.report(ErrorKind::PARSE, format!("{}:{}: {msg}", path.display(), i + 1))?,
        }
    }
    Ok(Some(objects))
}

/// Sub-folders of `root` that hold an `images` folder: the splits on disk.
pub fn splits_of(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("images").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// A dataset split read into memory.
#[derive(Debug)]
pub struct Loaded {
    pub classes: ClassTable,
    pub splits: Vec<String>,
    pub samples: Vec<Sample>,
    pub problems: Vec<String>,
}

impl DatasetPlugin for Loaded {
    fn classes(&self) -> ClassTable {
        self.classes.clone()
    }
    fn splits(&self) -> Vec<String> {
        self.splits.clone()
    }
    fn len(&self) -> usize {
        self.samples.len()
    }
    fn sample(&self, index: usize) -> Result<Sample, PluginError> {
        self.samples.get(index).cloned().ok_or_else(|| {
            PluginError::new(ErrorKind::INVALID_CONFIG, format!("sample {index} out of range (dataset has {})", self.samples.len()))
        })
    }
    fn problems(&self) -> Vec<String> {
        self.problems.clone()
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    /// The PNG signature and IHDR chunk, all that `imagesize` reads: a `w` x `h` image file.
    pub fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend(w.to_be_bytes());
        v.extend(h.to_be_bytes());
        v.extend([8, 2, 0, 0, 0]);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dota_lines() {
        let c = ClassIndex::new(&["plane", "ship"]);
        let o = parse_dota_line("1 2 3 4 5 6 7 8 ship 1\n", &c).unwrap().unwrap();
        assert_eq!((o.class_id, o.difficulty, o.quad.pts[7]), (1, 1, 8.0));
        assert_eq!(parse_dota_line("1.5 2 3 4 5 6 7 8 plane", &c).unwrap().unwrap().difficulty, 0);
        assert_eq!(parse_dota_line("imagesource:GoogleEarth", &c), Ok(None));
        assert_eq!(parse_dota_line("gsd:0.146343590398", &c), Ok(None));
        assert_eq!(parse_dota_line("   ", &c), Ok(None));
        // Seven numbers: the class name lands among the coordinates.
        assert!(parse_dota_line("1 2 3 4 5 6 7 plane 0", &c).unwrap_err().contains("bad coordinate \"plane\""));
        assert!(parse_dota_line("1 2 3 4 5 6 7 plane", &c).unwrap_err().contains("8 fields"));
        assert!(parse_dota_line("1 2 3 4 5 6 7 NaN plane 0", &c).unwrap_err().contains("non-finite"));
        assert!(parse_dota_line("1 2 3 4 5 6 7 x plane 0", &c).unwrap_err().contains("bad coordinate"));
        assert!(parse_dota_line("1 2 3 4 5 6 7 8 boat 0", &c).unwrap_err().contains("unknown class \"boat\""));
        assert!(parse_dota_line("1 2 3 4 5 6 7 8 plane -1", &c).unwrap_err().contains("difficulty"));
    }

    #[test]
    fn problems_are_errors_unless_skipping() {
        let mut strict = Problems::new(false);
        let e = strict.report(ErrorKind::PARSE, "a.txt:3: bad".into()).unwrap_err();
        assert!(e.to_string().contains("a.txt:3: bad"));
        let mut lax = Problems::new(true);
        lax.report(ErrorKind::PARSE, "a.txt:3: bad".into()).unwrap();
        assert_eq!(lax.into_vec(), vec!["a.txt:3: bad".to_string()]);
    }
}
