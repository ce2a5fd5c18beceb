//! `lmmrotate data convert`: annotations → upstream's SFT JSON (`{file_name, id, width, height,
//! response}` records), as `main_convert_data_to_florence2fmt` in upstream's `convert_dota_for_sft.py`.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use lmmrotate_abi::{ClassTable, ImageMeta, Object, Quad, Sample};
use lmmrotate_core::data::trained_objects;
use lmmrotate_core::{Model, Plugins};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["input", "dataset"]))]
pub struct ConvertArgs {
    /// A COCO polygon JSON (`segmentation[0]` = x1,y1,...,x4,y4; sizes from its `images`;
    /// `iscrowd` objects left out, as training and mmdet's evaluation ignore them), or a folder
    /// of DOTA annfiles (`<stem>.txt`; sizes from the image headers).
    #[arg(long)]
    input: Option<PathBuf>,
    /// The images of an annfiles folder [default: `images` next to it].
    #[arg(long)]
    images: Option<PathBuf>,
    /// Or any dataset plugin as input (with --dataset-root and --split).
    #[arg(long, conflicts_with = "images")]
    dataset: Option<String>,
    /// Root folder of --dataset [default: the registry's `root`].
    #[arg(long = "dataset-root", requires = "dataset")]
    dataset_root: Option<PathBuf>,
    /// Split of --dataset [default: the plugin's].
    #[arg(long, requires = "dataset")]
    split: Option<String>,
    /// Response format plugin (v1, v2, v3, allseeing). v1 and v2 drop images without objects, as
    /// upstream does (the count is printed); v3 writes `There are none.` for them.
    #[arg(long, default_value = "v2")]
    format: String,
    /// Output SFT JSON, written as Python's `json.dump` writes it. Records follow the input: a COCO
    /// JSON's `images` order with all keys of each entry; annfiles in file order with ids 1..N.
    #[arg(long)]
    out: PathBuf,
    /// Quantisation arithmetic [default: the format's, f64]. Upstream divides in the dtype of the
    /// COCO JSON's numbers: f64 reproduces it for float coordinates, f32 for integer ones (e.g.
    /// mmrotate's dota2coco output). At W=1024 the two differ at x = 128, 256, 384, 512, 768, 896.
    #[arg(long, value_enum)]
    quantize: Option<Quantize>,
    /// Class names (comma list or a file, one per line) of an annfiles folder or dataset
    /// [default: classes.txt or the names in the annfiles]. Only which names exist matters: the
    /// groups are ordered by the sorted names, as upstream sorts the COCO category names.
    #[arg(long)]
    classes: Option<String>,
    /// Also count tokens per response with this model plugin's tokenizer.
    #[arg(long)]
    model: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Quantize {
    F32,
    F64,
}

/// A JSON object with its keys in file order (records keep the COCO image entry's key order).
#[derive(Debug, Default)]
struct Record(Vec<(String, Value)>);

impl Record {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Python's `d[key] = value`: replaced in place, or appended.
    fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_string(), value)),
        }
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Record;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an image entry (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Record, A::Error> {
                let mut r = Record::default();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    r.set(&k, v);
                }
                Ok(r)
            }
        }
        d.deserialize_map(V)
    }
}

impl serde::Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[derive(Deserialize)]
struct CocoFile {
    images: Vec<Record>,
    annotations: Vec<CocoAnnotation>,
    categories: Vec<CocoCategory>,
}

#[derive(Deserialize)]
struct CocoAnnotation {
    #[serde(default)]
    id: Value,
    image_id: Value,
    category_id: Value,
    /// A polygon list; crowd regions may hold RLE instead, which is never read.
    segmentation: Value,
    #[serde(default)]
    iscrowd: Value,
}

/// mmdet's `ann.get('iscrowd', False)`: Python truthiness of the value.
fn is_crowd(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[derive(Deserialize)]
struct CocoCategory {
    id: Value,
    name: String,
}

/// Images to encode, in output order, with the record each response is added to.
struct Input {
    classes: ClassTable,
    images: Vec<(Sample, Record)>,
    /// Polygons whose numbers are all integers, and all polygons (for the `--quantize` hint).
    integer_polygons: Option<(usize, usize)>,
    /// Crowd objects left out of the responses.
    crowd: usize,
}

/// A JSON id as a map key, as the COCO reader of the dataset plugins keys them.
fn key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn read_coco(path: &Path) -> Result<Input> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: CocoFile = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!("{}:{}:{}: not a COCO polygon JSON (images, annotations, categories): {e}", path.display(), e.line(), e.column())
    })?;
    let names: Vec<&str> = file.categories.iter().map(|c| c.name.as_str()).collect();
    let class_of: HashMap<String, u32> = file.categories.iter().enumerate().map(|(i, c)| (key(&c.id), i as u32)).collect();

    let mut objects: HashMap<String, Vec<Object>> = HashMap::new();
    let (mut integer, mut polygons, mut crowd) = (0, 0, 0);
    for (i, a) in file.annotations.iter().enumerate() {
        let at = || format!("{}: annotations[{i}] (id {})", path.display(), key(&a.id));
        let class_id = *class_of
            .get(&key(&a.category_id))
            .with_context(|| format!("{}: category_id {} is not in `categories`", at(), key(&a.category_id)))?;
        // mmdet ignores crowd regions in evaluation, and `lmmrotate train` leaves ignored objects
        // out of its targets; so does the SFT JSON. (Upstream's converter would encode an
        // iscrowd polygon as an object, and fail on RLE; its five datasets have no crowd.)
        if is_crowd(&a.iscrowd) {
            crowd += 1;
            continue;
        }
        // Upstream reads the first four points of `segmentation[0]`.
        let poly = a.segmentation.get(0).and_then(Value::as_array).filter(|p| p.len() >= 8).with_context(|| {
            format!("{}: `segmentation[0]` needs 8 numbers (x1, y1, ..., x4, y4)", at())
        })?;
        polygons += 1;
        integer += poly[..8].iter().all(|n| n.is_i64() || n.is_u64()) as usize;
        let mut pts = [0f32; 8];
        for (p, n) in pts.iter_mut().zip(poly) {
            *p = n.as_f64().filter(|v| v.is_finite()).with_context(|| format!("{}: coordinate {n} is not a finite number", at()))? as f32;
        }
        objects.entry(key(&a.image_id)).or_default().push(Object { quad: Quad::new(pts), class_id, difficulty: 0 });
    }

    let mut images = Vec::with_capacity(file.images.len());
    for (i, rec) in file.images.into_iter().enumerate() {
        let at = || format!("{}: images[{i}]", path.display());
        let id = key(rec.get("id").with_context(|| format!("{}: no `id`", at()))?);
        let file_name = rec.get("file_name").and_then(Value::as_str).with_context(|| format!("{}: no `file_name` string", at()))?;
        let size = |k: &str| {
            rec.get(k)
                .and_then(Value::as_u64)
                .filter(|&v| v > 0 && v <= u32::MAX as u64)
                .with_context(|| format!("{}: `{k}` must be a positive integer", at()))
        };
        let image = ImageMeta { id: id.as_str().into(), path: file_name.into(), width: size("width")? as u32, height: size("height")? as u32 };
        let objects = objects.get(&id).cloned().unwrap_or_default();
        images.push((Sample { image, objects: objects.into() }, rec));
    }
    Ok(Input { classes: ClassTable::from_names(&names), images, integer_polygons: Some((integer, polygons)), crowd })
}

/// An annfiles folder as the `dota-folder` plugin reads it: `ROOT/{images,annfiles}`. Any other
/// layout is linked into that shape in a temp folder, whose paths are named back in messages.
struct Folder {
    root: PathBuf,
    _links: Option<tempfile::TempDir>,
    renames: Vec<(String, String)>,
}

impl Folder {
    fn new(annfiles: &Path, images: Option<&Path>) -> Result<Folder> {
        let parent = annfiles.parent().unwrap_or(Path::new("."));
        let images = images.map(Path::to_path_buf).unwrap_or_else(|| parent.join("images"));
        if !images.is_dir() {
            bail!("no image folder {} (pass --images DIR)", images.display());
        }
        let name = annfiles.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // The plugin takes `annfiles` over `labelTxt` when both exist.
        let standard = (name == "annfiles" || (name == "labelTxt" && !parent.join("annfiles").is_dir()))
            && same_dir(&images, &parent.join("images"));
        if standard {
            return Ok(Folder { root: parent.to_path_buf(), _links: None, renames: Vec::new() });
        }
        let tmp = tempfile::tempdir().context("creating a temp folder")?;
        link(annfiles, &tmp.path().join("annfiles"))?;
        link(&images, &tmp.path().join("images"))?;
        let renames = vec![
            (tmp.path().join("annfiles").display().to_string(), annfiles.display().to_string()),
            (tmp.path().join("images").display().to_string(), images.display().to_string()),
        ];
        Ok(Folder { root: tmp.path().to_path_buf(), _links: Some(tmp), renames })
    }

    /// `text` with the temp folder's paths replaced by the user's.
    fn name_back(&self, text: &str) -> String {
        self.renames.iter().fold(text.to_string(), |t, (tmp, real)| t.replace(tmp, real))
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

#[cfg(unix)]
fn link(target: &Path, at: &Path) -> Result<()> {
    let target = target.canonicalize().with_context(|| format!("{} not found", target.display()))?;
    std::os::unix::fs::symlink(&target, at).with_context(|| format!("linking {}", target.display()))
}

#[cfg(not(unix))]
fn link(target: &Path, _at: &Path) -> Result<()> {
    bail!("{}: put the annfiles in ROOT/annfiles next to ROOT/images", target.display())
}

/// Samples of a dataset plugin, numbered 1..N in the dataset's order; `file_name` is the path
/// under the images' common folder (returned), the `--image_folder` of training.
fn read_dataset(plugins: &Plugins, name: &str, cfg: &Value, rename: &dyn Fn(&str) -> String) -> Result<(Input, PathBuf)> {
    let ds = plugins.dataset(name, cfg).map_err(|e| anyhow::anyhow!("{}", rename(&format!("{e:#}"))))?;
    let classes = ds.classes()?;
    let samples = lmmrotate_core::data::all_samples(&ds)?;
    let paths: Vec<PathBuf> = samples.iter().map(|s| PathBuf::from(s.image.path.as_str())).collect();
    let folder = common_folder(&paths);
    let mut crowd = 0;
    let images = samples
        .into_iter()
        .zip(&paths)
        .enumerate()
        .map(|(i, (mut s, p))| {
            // The objects `lmmrotate train --dataset` encodes: ignored (crowd) ones left out.
            let trained = trained_objects(s.objects.as_slice());
            crowd += s.objects.len() - trained.len();
            s.objects = trained.into();
            let file_name = p.strip_prefix(&folder).unwrap_or(p).to_string_lossy().into_owned();
            let rec = Record(vec![
                ("file_name".into(), file_name.into()),
                ("id".into(), (i + 1).into()),
                ("width".into(), s.image.width.into()),
                ("height".into(), s.image.height.into()),
            ]);
            (s, rec)
        })
        .collect();
    Ok((Input { classes, images, integer_polygons: None, crowd }, PathBuf::from(rename(&folder.display().to_string()))))
}

/// The deepest folder holding every path.
fn common_folder(paths: &[PathBuf]) -> PathBuf {
    let Some(first) = paths.first() else { return PathBuf::new() };
    let mut folder = first.parent().unwrap_or(Path::new("")).to_path_buf();
    for p in &paths[1..] {
        while !p.starts_with(&folder) && folder.pop() {}
    }
    folder
}

/// Python's `json.dump` layout: `", "` and `": "` separators, non-ASCII as `\uXXXX`.
struct PyFormatter;

impl serde_json::ser::Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}

fn write_python_json(path: &Path, records: &[Record]) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let mut ser = serde_json::Serializer::with_formatter(&mut w, PyFormatter);
    serde::Serialize::serialize(records, &mut ser).with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::flush(&mut w).with_context(|| format!("writing {}", path.display()))
}

/// The `classes` key of a dataset config: the file given, or the list written to a temp file.
fn class_file(arg: &str) -> Result<(String, Option<tempfile::NamedTempFile>)> {
    if Path::new(arg).is_file() {
        return Ok((arg.to_string(), None));
    }
    let names = super::super::class_names(arg)?;
    let mut f = tempfile::NamedTempFile::new().context("creating a temp class list")?;
    std::io::Write::write_all(&mut f, names.join("\n").as_bytes()).context("writing a temp class list")?;
    Ok((f.path().display().to_string(), Some(f)))
}

pub fn run(g: &Global, a: &ConvertArgs) -> Result<Outcome> {
    let plugins = super::super::open_plugins(g)?;
    let mut fcfg = serde_json::json!({});
    if let Some(q) = a.quantize {
        fcfg["quantize"] = (if matches!(q, Quantize::F32) { "f32" } else { "f64" }).into();
    }
    let format = plugins.format(&a.format, &fcfg)?;
    // Opened first: a model that does not load fails before a long conversion.
    let model = a.model.as_ref().map(|m| plugins.model(m, &serde_json::json!({}))).transpose()?;

    let coco = a.input.as_deref().filter(|p| p.is_file());
    let (input, image_folder) = if let Some(path) = coco {
        if a.images.is_some() || a.classes.is_some() {
            bail!("--images and --classes are for an annfiles folder: a COCO JSON carries the sizes and categories");
        }
        (read_coco(path)?, None)
    } else {
        let mut dcfg = serde_json::json!({});
        let _class_tmp = match &a.classes {
            Some(c) => {
                let (file, tmp) = class_file(c)?;
                dcfg["classes"] = file.into();
                tmp
            }
            None => None,
        };
        let (input, folder) = match &a.input {
            Some(dir) => {
                if !dir.is_dir() {
                    bail!("--input {}: no such file or folder", dir.display());
                }
                let folder = Folder::new(dir, a.images.as_deref())?;
                dcfg["root"] = folder.root.display().to_string().into();
                read_dataset(&plugins, "dota-folder", &dcfg, &|t| folder.name_back(t))?
            }
            None => {
                if let Some(r) = &a.dataset_root {
                    dcfg["root"] = r.display().to_string().into();
                }
                if let Some(s) = &a.split {
                    dcfg["split"] = s.clone().into();
                }
                let name = a.dataset.as_deref().unwrap_or_default();
                read_dataset(&plugins, name, &dcfg, &str::to_string)?
            }
        };
        (input, Some(folder))
    };

    let mut records = Vec::with_capacity(input.images.len());
    let mut dropped = 0usize;
    for (s, mut rec) in input.images {
        match format.encode(s.objects.as_slice(), &s.image, &input.classes)? {
            Some(text) => {
                rec.set("response", text.into());
                records.push(rec);
            }
            None => dropped += 1,
        }
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_python_json(&a.out, &records)?;

    print!("{} records written to {}", records.len(), a.out.display());
    if dropped > 0 {
        print!(" ({dropped} images without objects dropped, as upstream's {} does)", a.format);
    }
    println!();
    if input.crowd > 0 {
        println!(
            "{} crowd objects (iscrowd) left out of the responses: evaluation ignores them, as mmdet does",
            input.crowd
        );
    }
    if let Some(folder) = image_folder {
        println!("file_name is relative to {} (the --image_folder for training)", folder.display());
    }
    if let (Some((int, all)), None) = (input.integer_polygons, a.quantize) {
        if int == all && all > 0 {
            println!("note: every polygon has integer coordinates; upstream quantised them in float32 (pass --quantize f32 to match)");
        }
    }
    if let Some(m) = &model {
        token_stats(m, &records)?;
    }
    Ok(Outcome::Done)
}

/// Tokens per response as upstream's converter prints them, against the model's text length.
fn token_stats(model: &Model, records: &[Record]) -> Result<()> {
    let max_len = model.info()?.max_text_len;
    let mut counts = Vec::with_capacity(records.len());
    for r in records {
        counts.push(model.count_tokens(r.get("response").and_then(Value::as_str).unwrap_or_default())?);
    }
    let (Some(max), Some(min)) = (counts.iter().max(), counts.iter().min()) else {
        println!("tokens per response: no responses");
        return Ok(());
    };
    let mean = counts.iter().map(|&c| c as f64).sum::<f64>() / counts.len() as f64;
    let over = counts.iter().filter(|&&c| c > max_len).count();
    println!("tokens per response ({}): max {max}, min {min}, mean {mean:.1}", model.name);
    println!(
        "over the model's {max_len} tokens: {over} of {} ({:.2}%), truncated in training",
        counts.len(),
        100.0 * over as f64 / counts.len() as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_json_layout() {
        let mut r = Record(vec![("file_name".into(), "é😀.png".into()), ("id".into(), 1.into())]);
        r.set("response", "a\"b".into());
        r.set("id", 7.into());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.json");
        write_python_json(&p, &[r, Record::default()]).unwrap();
        // As `json.dump([{"file_name": "é😀.png", "id": 7, "response": 'a"b'}, {}], fp)`.
        let want = r#"[{"file_name": "\u00e9\ud83d\ude00.png", "id": 7, "response": "a\"b"}, {}]"#;
        assert_eq!(std::fs::read_to_string(&p).unwrap(), want);
    }

    #[test]
    fn common_folder_of_images() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(common_folder(&[p("/d/train/images/a.png"), p("/d/train/images/b.png")]), p("/d/train/images"));
        assert_eq!(common_folder(&[p("/d/train/images/a.png"), p("/d/val/images/b.png")]), p("/d"));
        assert_eq!(common_folder(&[]), p(""));
    }
}
