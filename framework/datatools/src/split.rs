//! DOTA patch splitting with the behaviour of mmrotate's `tools/data/dota/split/img_split.py`:
//! sliding windows per (size, gap) scaled by each rate, windows kept by their in-image area,
//! objects kept by intersection-over-foreground and translated (not clipped), truncated ones
//! marked difficulty 2, border patches padded, names `{id}__{size}__{x}___{y}`. Side by side
//! with mmrotate (`scripts/bench/img_split_vs_mmrotate.sh`) the patches of PNG, TIFF and BMP
//! inputs are pixel-identical; JPEG decoders differ by a few levels on some pixels.

use lmmrotate_geometry::{clip_convex, polygon_area, Point};
use rayon::prelude::*;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Image extensions mmrotate's loader accepts (exact, case-sensitive, as its `img_exts`).
const IMG_EXTS: [&str; 5] = ["jpg", "JPG", "png", "tif", "bmp"];

/// Split options; the JSON form is mmrotate's split config (`ss_trainval.json`, `ms_test.json`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    pub img_dirs: Vec<PathBuf>,
    /// One per image folder; `None` (JSON `null`) splits images only, with empty annfiles.
    pub ann_dirs: Option<Vec<PathBuf>>,
    pub sizes: Vec<u32>,
    pub gaps: Vec<u32>,
    pub rates: Vec<f64>,
    pub img_rate_thr: f64,
    pub iof_thr: f64,
    pub no_padding: bool,
    /// BGR, as mmrotate's cv2 code; one value pads all channels.
    pub padding_value: PaddingValue,
    pub save_dir: PathBuf,
    /// `.png` (pixels identical to mmrotate's) or `.jpg` (quality 95; encoders differ).
    pub save_ext: String,
    /// Worker threads; `None` = rayon's default. (mmrotate's process count.)
    pub nproc: Option<usize>,
}

/// mmrotate accepts a number or a per-channel list.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PaddingValue {
    All(u8),
    Bgr([u8; 3]),
}

impl PaddingValue {
    fn rgb(self) -> [u8; 3] {
        match self {
            PaddingValue::All(v) => [v; 3],
            PaddingValue::Bgr([b, g, r]) => [r, g, b],
        }
    }
}

impl Default for SplitConfig {
    /// mmrotate's single-scale DOTA config (`ss_trainval.json`) without folders.
    fn default() -> Self {
        SplitConfig {
            img_dirs: Vec::new(),
            ann_dirs: None,
            sizes: vec![1024],
            gaps: vec![200],
            rates: vec![1.0],
            img_rate_thr: 0.6,
            iof_thr: 0.7,
            no_padding: false,
            padding_value: PaddingValue::Bgr([104, 116, 124]),
            save_dir: PathBuf::new(),
            save_ext: ".png".into(),
            nproc: None,
        }
    }
}

impl SplitConfig {
    /// Reads an mmrotate split config file.
    pub fn from_json_file(path: &Path) -> Result<Self, SplitError> {
        let text = std::fs::read_to_string(path).map_err(|source| SplitError::Io { path: path.into(), source })?;
        serde_json::from_str(&text).map_err(|e| SplitError::Config(format!("{}: {e}", path.display())))
    }

    /// Window sizes and gaps over all rates, as mmrotate: `int(size / rate)`, `int(gap / rate)`.
    pub fn scaled_sizes_gaps(&self) -> Result<(Vec<u32>, Vec<u32>), SplitError> {
        if self.sizes.len() != self.gaps.len() {
            return Err(SplitError::Config(format!("{} sizes but {} gaps", self.sizes.len(), self.gaps.len())));
        }
        let (mut sizes, mut gaps) = (Vec::new(), Vec::new());
        for &rate in &self.rates {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(SplitError::Config(format!("rate must be positive, got {rate}")));
            }
            sizes.extend(self.sizes.iter().map(|&s| (s as f64 / rate) as u32));
            gaps.extend(self.gaps.iter().map(|&g| (g as f64 / rate) as u32));
        }
        for (s, g) in sizes.iter().zip(&gaps) {
            if s <= g || *s == 0 {
                return Err(SplitError::Config(format!("invalid size/gap pair [{s} {g}]: size must exceed gap")));
            }
        }
        Ok((sizes, gaps))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("invalid split config: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Image { path: PathBuf, source: image::ImageError },
    #[error("{path}: {message}")]
    Png { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Annotation { path: PathBuf, line: usize, message: String },
}

/// What a split wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SplitSummary {
    pub images: usize,
    pub patches: usize,
    /// Object lines written (an object appears in every patch that keeps it).
    pub objects: usize,
    /// Images without an annotation file (split as having no objects, as mmrotate does).
    pub missing_annfiles: Vec<PathBuf>,
}

/// The windows `[x0, y0, x1, y1]` of a `width x height` image, as mmrotate's
/// `get_sliding_window`: x outer, y inner; the last start moved back to `W - size`; kept when
/// the in-image share of the window exceeds `img_rate_thr`, or else those within 0.01 of the
/// best share.
pub fn sliding_windows(width: u32, height: u32, sizes: &[u32], gaps: &[u32], img_rate_thr: f64) -> Vec<[i64; 4]> {
    let starts = |len: i64, size: i64, step: i64| -> Vec<i64> {
        let num = if len <= size { 1 } else { (len - size + step - 1) / step + 1 };
        let mut v: Vec<i64> = (0..num).map(|i| step * i).collect();
        if v.len() > 1 && v[v.len() - 1] + size > len {
            *v.last_mut().expect("non-empty") = len - size;
        }
        v
    };
    let (w, h) = (width as i64, height as i64);
    let mut windows = Vec::new();
    for (&size, &gap) in sizes.iter().zip(gaps) {
        let (size, step) = (size as i64, (size - gap) as i64);
        let ys = starts(h, size, step);
        for x in starts(w, size, step) {
            for &y in &ys {
                windows.push([x, y, x + size, y + size]);
            }
        }
    }
    let mut rates: Vec<f64> = windows
        .iter()
        .map(|win| {
            let iw = win[2].clamp(0, w) - win[0].clamp(0, w);
            let ih = win[3].clamp(0, h) - win[1].clamp(0, h);
            (iw * ih) as f64 / ((win[2] - win[0]) * (win[3] - win[1])) as f64
        })
        .collect();
    if !rates.iter().any(|&r| r > img_rate_thr) {
        let max = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for r in rates.iter_mut() {
            if (*r - max).abs() < 0.01 {
                *r = 1.0;
            }
        }
    }
    windows.into_iter().zip(rates).filter(|(_, r)| *r > img_rate_thr).map(|(w, _)| w).collect()
}

/// An annotation line as mmrotate keeps it: float32 corners, the label text, the difficulty.
#[derive(Clone, Debug, PartialEq)]
pub struct AnnLine {
    pub pts: [f32; 8],
    pub label: String,
    pub difficulty: i64,
}

/// Reads a DOTA annfile like mmrotate's `_load_dota_txt`: `gsd` lines and lines of fewer than 9
/// fields (such as `imagesource:...`) are headers; a tenth field is the difficulty. Unlike
/// mmrotate, unparsable numbers are an error naming the line rather than a crash, and fields are
/// split at any whitespace: mmrotate's `line.split(' ')` leaves the line ending in the label of a
/// line without difficulty and writes `... plane\n 0` into the patch annfile.
pub fn read_annfile(path: &Path) -> Result<Vec<AnnLine>, SplitError> {
    let text = std::fs::read_to_string(path).map_err(|source| SplitError::Io { path: path.into(), source })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("gsd") {
            continue;
        }
        let items: Vec<&str> = line.split_whitespace().collect();
        if items.len() < 9 {
            continue;
        }
        let bad = |message: String| SplitError::Annotation { path: path.into(), line: i + 1, message };
        let mut pts = [0f32; 8];
        for (p, s) in pts.iter_mut().zip(&items) {
            *p = s.parse().map_err(|_| bad(format!("bad coordinate {s:?}")))?;
        }
        let difficulty = if items.len() == 10 {
            items[9].parse().map_err(|_| bad(format!("bad difficulty {:?}", items[9])))?
        } else {
            0
        };
        out.push(AnnLine { pts, label: items[8].to_string(), difficulty });
    }
    Ok(out)
}

/// Intersection over foreground of an object and a window with mmrotate's arithmetic: zero
/// unless the horizontal boxes overlap with positive area; the object's area is rounded to
/// float32 (its `unions` array) and floored at 1e-6.
pub fn iof(pts: &[f32; 8], win: [i64; 4]) -> f64 {
    let poly: [Point; 4] = [0, 1, 2, 3].map(|k| [pts[2 * k] as f64, pts[2 * k + 1] as f64]);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for p in &poly {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    let [wx0, wy0, wx1, wy1] = win.map(|v| v as f64);
    let hw = (x1.min(wx1) - x0.max(wx0)).max(0.0);
    let hh = (y1.min(wy1) - y0.max(wy0)).max(0.0);
    let area = (polygon_area(&poly) as f32 as f64).max(1e-6);
    if hw * hh == 0.0 {
        return 0.0;
    }
    let rect = [[wx0, wy0], [wx1, wy0], [wx1, wy1], [wx0, wy1]];
    polygon_area(&clip_convex(&poly, &rect)) / area
}

/// mmrotate writes float32 numbers with `str()`: the shortest round-trip form, `.0` for integers.
fn py_f32(v: f32) -> String {
    format!("{v:?}")
}

struct Job {
    img: PathBuf,
    ann: Option<PathBuf>,
}

/// Splits every image of `cfg.img_dirs` into `cfg.save_dir/images` and `cfg.save_dir/annfiles`,
/// in parallel over images; `progress(done, total)` after each image, from worker threads.
pub fn split_dota(cfg: &SplitConfig, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<SplitSummary, SplitError> {
    let (sizes, gaps) = cfg.scaled_sizes_gaps()?;
    if let Some(a) = &cfg.ann_dirs {
        if a.len() != cfg.img_dirs.len() {
            return Err(SplitError::Config(format!("{} img_dirs but {} ann_dirs", cfg.img_dirs.len(), a.len())));
        }
    }
    let ext = cfg.save_ext.trim_start_matches('.').to_ascii_lowercase();
    if !["png", "jpg", "jpeg", "bmp", "tif", "tiff"].contains(&ext.as_str()) {
        return Err(SplitError::Config(format!("unsupported save_ext {:?}", cfg.save_ext)));
    }
    let mut jobs = Vec::new();
    for (i, dir) in cfg.img_dirs.iter().enumerate() {
        let rd = std::fs::read_dir(dir).map_err(|source| SplitError::Io { path: dir.clone(), source })?;
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMG_EXTS.contains(&e)))
            .collect();
        files.sort();
        for img in files {
            let stem = img.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let ann = cfg.ann_dirs.as_ref().map(|a| a[i].join(format!("{stem}.txt")));
            jobs.push(Job { img, ann });
        }
    }
    let img_out = cfg.save_dir.join("images");
    let ann_out = cfg.save_dir.join("annfiles");
    for d in [&img_out, &ann_out] {
        std::fs::create_dir_all(d).map_err(|source| SplitError::Io { path: d.clone(), source })?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.nproc.unwrap_or(0))
        .build()
        .map_err(|e| SplitError::Config(format!("thread pool: {e}")))?;
    let done = AtomicUsize::new(0);
    let total = jobs.len();
    let results: Vec<Result<(usize, usize, Option<PathBuf>), SplitError>> = pool.install(|| {
        // Each worker keeps its pixel buffers from image to image (a 4000² image is 48 MB, a
        // patch 3 MB: fresh ones cost their page faults every time).
        jobs.par_iter()
            .map_init(Buffers::default, |buffers, job| {
                let r = split_one(job, cfg, &sizes, &gaps, &ext, &img_out, &ann_out, buffers);
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                r
            })
            .collect()
    });
    let mut summary = SplitSummary { images: total, ..Default::default() };
    for r in results {
        let (patches, objects, missing) = r?;
        summary.patches += patches;
        summary.objects += objects;
        summary.missing_annfiles.extend(missing);
    }
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn split_one(
    job: &Job,
    cfg: &SplitConfig,
    sizes: &[u32],
    gaps: &[u32],
    ext: &str,
    img_out: &Path,
    ann_out: &Path,
    buffers: &mut Buffers,
) -> Result<(usize, usize, Option<PathBuf>), SplitError> {
    let (w, h) = read_rgb8_as_cv2(&job.img, &mut buffers.image)?;
    let img = Rgb8 { width: w as usize, height: h as usize, data: &buffers.image };
    let (missing, anns) = match &job.ann {
        Some(a) if a.is_file() => (None, read_annfile(a)?),
        Some(a) => (Some(a.clone()), Vec::new()),
        None => (None, Vec::new()),
    };
    let id = job.img.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let windows = sliding_windows(w, h, sizes, gaps, cfg.img_rate_thr);
    let pad = cfg.padding_value.rgb();
    let mut objects = 0;
    for win in &windows {
        let [x0, y0, x1, y1] = *win;
        let name = format!("{id}__{}__{x0}___{y0}", x1 - x0);
        let mut text = String::new();
        for a in &anns {
            let v = iof(&a.pts, *win);
            if v >= cfg.iof_thr {
                for k in 0..4 {
                    let (x, y) = (a.pts[2 * k] - x0 as f32, a.pts[2 * k + 1] - y0 as f32);
                    write!(text, "{} {} ", py_f32(x), py_f32(y)).expect("writing to a String");
                }
                let diff = if v < 1.0 { 2 } else { a.difficulty };
                writeln!(text, "{} {diff}", a.label).expect("writing to a String");
                objects += 1;
            }
        }
        let ann_path = ann_out.join(format!("{name}.txt"));
        std::fs::write(&ann_path, text).map_err(|source| SplitError::Io { path: ann_path, source })?;
        // The crop is what lies inside the image; padding fills the rest bottom/right.
        let (cw, ch) = ((x1.min(w as i64) - x0) as usize, (y1.min(h as i64) - y0) as usize);
        let (pw, ph) = if cfg.no_padding { (cw, ch) } else { ((x1 - x0) as usize, (y1 - y0) as usize) };
        let path = img_out.join(format!("{name}.{}", cfg.save_ext.trim_start_matches('.')));
        save_patch(&img, [x0 as usize, y0 as usize], [cw, ch], [pw, ph], pad, &path, ext, &mut buffers.patch)?;
    }
    Ok((windows.len(), objects, missing))
}

/// A worker's pixel buffers, reused from image to image.
#[derive(Default)]
struct Buffers {
    image: Vec<u8>,
    patch: Vec<u8>,
}

/// 8-bit RGB pixels, rows top to bottom.
struct Rgb8<'a> {
    width: usize,
    height: usize,
    data: &'a [u8],
}

impl Rgb8<'_> {
    /// The `crop` (w, h) at `at` (x, y), padded with `pad` bottom and right to `size`, into
    /// `out` (cleared first), a row at a time.
    fn crop_padded_into(&self, at: [usize; 2], crop: [usize; 2], size: [usize; 2], pad: [u8; 3], out: &mut Vec<u8>) {
        debug_assert!(at[0] + crop[0] <= self.width && at[1] + crop[1] <= self.height);
        let stride = self.width * 3;
        let pad_row = pad.repeat(size[0]);
        out.clear();
        for row in 0..size[1] {
            if row < crop[1] {
                let start = (at[1] + row) * stride + at[0] * 3;
                out.extend_from_slice(&self.data[start..start + crop[0] * 3]);
                out.extend_from_slice(&pad_row[crop[0] * 3..]);
            } else {
                out.extend_from_slice(&pad_row);
            }
        }
    }
}

/// Writes the `crop` of `img` at `at`, padded bottom and right with `pad` to `size`, assembled
/// in `out` (reused). PNG is written with the png crate's fastest setting (fdeflate with the Up
/// filter; mmrotate's cv2 also writes at its fastest zlib level, and pixels are what must match).
#[allow(clippy::too_many_arguments)]
fn save_patch(
    img: &Rgb8,
    at: [usize; 2],
    crop: [usize; 2],
    size: [usize; 2],
    pad: [u8; 3],
    path: &Path,
    ext: &str,
    out: &mut Vec<u8>,
) -> Result<(), SplitError> {
    let io = |source| SplitError::Io { path: path.to_path_buf(), source };
    img.crop_padded_into(at, crop, size, pad, out);
    if ext == "png" {
        let png_err = |e: png::EncodingError| SplitError::Png { path: path.to_path_buf(), message: e.to_string() };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut enc = png::Encoder::new(std::io::BufWriter::with_capacity(1 << 20, file), size[0] as u32, size[1] as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fastest);
        let mut writer = enc.write_header().map_err(png_err)?;
        writer.write_image_data(out).map_err(png_err)?;
        return writer.finish().map_err(png_err);
    }
    let patch = image::ImageBuffer::<image::Rgb<u8>, &[u8]>::from_raw(size[0] as u32, size[1] as u32, out.as_slice())
        .expect("size[0] * size[1] pixels");
    let image_err = |source| SplitError::Image { path: path.to_path_buf(), source };
    if ext == "jpg" || ext == "jpeg" {
        // cv2's default JPEG quality.
        let f = std::fs::File::create(path).map_err(io)?;
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(f), 95);
        enc.encode_image(&patch).map_err(image_err)
    } else {
        patch.save(path).map_err(image_err)
    }
}

/// Reads the 8-bit RGB pixels `cv2.imread(path)` gives (in RGB order) into `pixels`; returns
/// (width, height). PNGs are decoded by the png crate into the buffer directly (reused: resized,
/// not reallocated when large enough); other formats through `image`, whose buffer replaces it.
fn read_rgb8_as_cv2(path: &Path, pixels: &mut Vec<u8>) -> Result<(u32, u32), SplitError> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        return read_png_as_cv2(path, pixels);
    }
    let img = rgb8_as_cv2(image::open(path).map_err(|source| SplitError::Image { path: path.to_path_buf(), source })?);
    let dims = img.dimensions();
    *pixels = img.into_raw();
    Ok(dims)
}

/// A PNG as cv2 reads it in colour: palette and low bit depths expanded, 16-bit samples cut to
/// their high byte (libpng's `strip_16`, also the png crate's), alpha dropped, gray replicated.
fn read_png_as_cv2(path: &Path, pixels: &mut Vec<u8>) -> Result<(u32, u32), SplitError> {
    let png_err = |e: png::DecodingError| SplitError::Png { path: path.to_path_buf(), message: e.to_string() };
    let file = std::fs::File::open(path).map_err(|source| SplitError::Io { path: path.to_path_buf(), source })?;
    let mut dec = png::Decoder::new(std::io::BufReader::with_capacity(1 << 20, file));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(png_err)?;
    let size = reader.output_buffer_size().ok_or_else(|| SplitError::Png { path: path.to_path_buf(), message: "image too large".into() })?;
    let (w, h) = (reader.info().width, reader.info().height);
    let n = w as usize * h as usize;
    // Room for the RGB result too (gray grows to three bytes a pixel, in place, below).
    pixels.resize(size.max(n * 3), 0);
    let frame = reader.next_frame(pixels).map_err(png_err)?;
    let channels = match frame.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Indexed => unreachable!("EXPAND turns palettes into RGB(A)"),
    };
    debug_assert_eq!(frame.bit_depth, png::BitDepth::Eight, "EXPAND and STRIP_16 give 8-bit samples");
    to_rgb_in_place(pixels, n, channels);
    pixels.truncate(n * 3);
    Ok((w, h))
}

/// Pixels of `channels` samples (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) at the start of `buf`
/// rewritten as RGB in place (`buf` holds at least `n * 3` bytes): shrinking formats walk
/// forwards, growing ones backwards, so that no pixel is overwritten before it is read.
fn to_rgb_in_place(buf: &mut [u8], n: usize, channels: usize) {
    match channels {
        3 => {}
        4 => {
            for i in 0..n {
                buf.copy_within(4 * i..4 * i + 3, 3 * i);
            }
        }
        1 | 2 => {
            for i in (0..n).rev() {
                let g = buf[channels * i];
                buf[3 * i..3 * i + 3].fill(g);
            }
        }
        _ => unreachable!("1 to 4 channels"),
    }
}

/// The 8-bit RGB pixels `cv2.imread(path)` gives (in RGB order): alpha dropped, gray replicated,
/// and 16-bit samples cut to their high byte as libpng's `strip_16` does, where image's
/// `to_rgb8` would round (`v / 257`) and differ by one in about half the values.
fn rgb8_as_cv2(img: image::DynamicImage) -> image::RgbImage {
    use image::DynamicImage::*;
    match img {
        ImageLuma16(_) | ImageLumaA16(_) | ImageRgb16(_) | ImageRgba16(_) => {
            let wide = img.to_rgb16();
            let (w, h) = wide.dimensions();
            let bytes = wide.into_raw().into_iter().map(|v| (v >> 8) as u8).collect();
            image::RgbImage::from_raw(w, h, bytes).expect("same number of samples")
        }
        other => other.into_rgb8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_as_get_sliding_window() {
        // 2000 px, 1024/200: ceil(976 / 824 + 1) = 3 starts 0, 824, 1648 -> 976 (moved back so
        // that the window ends at the border).
        let w = sliding_windows(2000, 1024, &[1024], &[200], 0.6);
        assert_eq!(w, vec![[0, 0, 1024, 1024], [824, 0, 1848, 1024], [976, 0, 2000, 1024]]);
        // Smaller than a window: one window, in-image share 0.5 < 0.6, kept by the 0.01 rule.
        assert_eq!(sliding_windows(512, 1024, &[1024], &[200], 0.6), vec![[0, 0, 1024, 1024]]);
        // 1100 px: starts 0, 824 -> moved to 76; both full.
        assert_eq!(sliding_windows(1100, 1024, &[1024], &[200], 0.6).len(), 2);
    }

    #[test]
    fn iof_follows_mmrotate() {
        let sq = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0];
        assert_eq!(iof(&sq, [0, 0, 100, 100]), 1.0);
        assert_eq!(iof(&sq, [5, 0, 100, 100]), 0.5);
        assert_eq!(iof(&sq, [10, 0, 100, 100]), 0.0); // touching only
        assert_eq!(py_f32(359.0), "359.0");
        assert_eq!(py_f32(-12.5), "-12.5");
        assert_eq!(py_f32(0.1), "0.1");
    }

    #[test]
    fn crops_are_padded_bottom_and_right() {
        // A 3 x 2 image whose pixel (x, y) is [10x + y; 3].
        let src = image::RgbImage::from_fn(3, 2, |x, y| image::Rgb([(10 * x + y) as u8; 3]));
        let img = Rgb8 { width: 3, height: 2, data: src.as_raw() };
        let patch = |at, crop, size, pad| {
            let mut out = vec![5u8; 4]; // a reused buffer's old bytes are dropped
            img.crop_padded_into(at, crop, size, pad, &mut out);
            out
        };
        let px: Vec<[u8; 3]> = patch([1, 0], [2, 2], [3, 3], [7, 8, 9]).chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let (a, b, c, d, z) = ([10; 3], [20; 3], [11; 3], [21; 3], [7, 8, 9]);
        assert_eq!(px, [a, b, z, c, d, z, z, z, z]);
        // no_padding: the crop alone.
        assert_eq!(patch([2, 1], [1, 1], [1, 1], [0; 3]), [21, 21, 21]);
    }

    /// A PNG of `color`/`depth` with `samples` (big-endian for 16 bits) and an optional palette
    /// and transparency chunk, through the png crate's encoder.
    fn png_file(dir: &Path, name: &str, w: u32, color: png::ColorType, depth: png::BitDepth, samples: &[u8], palette: Option<(&[u8], &[u8])>) -> PathBuf {
        let path = dir.join(name);
        let mut enc = png::Encoder::new(std::fs::File::create(&path).unwrap(), w, 1);
        enc.set_color(color);
        enc.set_depth(depth);
        if let Some((plte, trns)) = palette {
            enc.set_palette(plte.to_vec());
            enc.set_trns(trns.to_vec());
        }
        enc.write_header().unwrap().write_image_data(samples).unwrap();
        path
    }

    #[test]
    fn png_inputs_read_as_cv2_reads_them_in_colour() {
        use png::{BitDepth::*, ColorType::*};
        let dir = tempfile::tempdir().unwrap();
        let read = |p: PathBuf| {
            let mut buf = vec![9u8; 64]; // reused buffers hold old bytes
            let (w, h) = read_rgb8_as_cv2(&p, &mut buf).unwrap();
            assert_eq!(buf.len(), (w * h * 3) as usize);
            buf
        };
        // 16-bit: the high byte (cv2 4.12 gives v >> 8, checked on all 65,536 values by
        // scripts/bench/img_split_vs_mmrotate.sh's edge inputs), gray replicated, alpha dropped.
        let g16 = png_file(dir.path(), "g16.png", 3, Grayscale, Sixteen, &[0x01, 0xFF, 0xFF, 0x80, 0x80, 0x80], None);
        assert_eq!(read(g16), [1, 1, 1, 0xFF, 0xFF, 0xFF, 0x80, 0x80, 0x80]);
        let rgba16 = png_file(dir.path(), "rgba16.png", 1, Rgba, Sixteen, &[0x12, 0xFF, 0x34, 0, 0x56, 0xAB, 0, 0], None);
        assert_eq!(read(rgba16), [0x12, 0x34, 0x56]);
        // 8-bit RGBA and gray + alpha: alpha dropped (not blended), gray replicated.
        let rgba = png_file(dir.path(), "rgba.png", 2, Rgba, Eight, &[1, 2, 3, 0, 4, 5, 6, 255], None);
        assert_eq!(read(rgba), [1, 2, 3, 4, 5, 6]);
        let ga = png_file(dir.path(), "ga.png", 2, GrayscaleAlpha, Eight, &[7, 0, 200, 128], None);
        assert_eq!(read(ga), [7, 7, 7, 200, 200, 200]);
        // 2-bit gray scaled to the full range (libpng's expand_gray_1_2_4_to_8): 0, 85, 170, 255.
        let g2 = png_file(dir.path(), "g2.png", 4, Grayscale, Two, &[0b00_01_10_11], None);
        assert_eq!(read(g2), [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
        // A palette with transparency: the palette's colours, alpha ignored.
        let pal = png_file(dir.path(), "pal.png", 3, Indexed, Eight, &[1, 0, 1], Some((&[10, 20, 30, 40, 50, 60], &[0, 255])));
        assert_eq!(read(pal), [40, 50, 60, 10, 20, 30, 40, 50, 60]);
        // RGB as it is.
        let rgb = png_file(dir.path(), "rgb.png", 1, Rgb, Eight, &[11, 22, 33], None);
        assert_eq!(read(rgb), [11, 22, 33]);
    }

    /// Lossless outputs other than PNG carry the same pixels (padding included); JPEG the size.
    #[test]
    fn bmp_and_jpeg_patches_are_written_too() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("images");
        std::fs::create_dir_all(&src).unwrap();
        image::RgbImage::from_fn(6, 5, |x, y| image::Rgb([(40 * x) as u8, (50 * y) as u8, 7])).save(src.join("a.png")).unwrap();
        let split = |ext: &str| {
            let out = dir.path().join(ext);
            let cfg = SplitConfig { img_dirs: vec![src.clone()], sizes: vec![4], gaps: vec![1], save_ext: ext.into(), save_dir: out.clone(), ..Default::default() };
            let s = split_dota(&cfg, &|_, _| {}).unwrap();
            assert_eq!(s.patches, 4, "{ext}");
            out.join("images")
        };
        let (png, bmp, jpg) = (split(".png"), split(".bmp"), split(".jpg"));
        for name in ["a__4__0___0", "a__4__2___0", "a__4__0___1", "a__4__2___1"] {
            let want = image::open(png.join(format!("{name}.png"))).unwrap().to_rgb8();
            assert_eq!(image::open(bmp.join(format!("{name}.bmp"))).unwrap().to_rgb8(), want, "{name}");
            assert_eq!(image::open(jpg.join(format!("{name}.jpg"))).unwrap().to_rgb8().dimensions(), (4, 4), "{name}");
        }
    }

    #[test]
    fn a_broken_png_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.png");
        std::fs::write(&path, b"\x89PNG\r\n\x1a\nnot a png").unwrap();
        let err = read_rgb8_as_cv2(&path, &mut Vec::new()).unwrap_err().to_string();
        assert!(err.contains("broken.png"), "{err}");
    }

    #[test]
    fn sixteen_bit_images_keep_the_high_byte_as_cv2() {
        // Regression: 16-bit PNGs came out one level off mmrotate's patches in about half the
        // values (image's `to_rgb8` rounds v / 257). cv2 4.12's imread gives v >> 8 (checked on
        // all 65,536 values by scripts/bench/img_split_vs_mmrotate.sh's edge inputs).
        let gray = image::ImageBuffer::<image::Luma<u16>, _>::from_raw(3, 1, vec![511u16, 0xFF80, 0x8080]).unwrap();
        let rgb = rgb8_as_cv2(image::DynamicImage::ImageLuma16(gray));
        assert_eq!(rgb.into_raw(), [1, 1, 1, 0xFF, 0xFF, 0xFF, 0x80, 0x80, 0x80]);
        let rgba = image::ImageBuffer::<image::Rgba<u16>, _>::from_raw(1, 1, vec![0x12FF, 0x3400, 0x56AB, 0]).unwrap();
        assert_eq!(rgb8_as_cv2(image::DynamicImage::ImageRgba16(rgba)).into_raw(), [0x12, 0x34, 0x56]);
    }

    #[test]
    fn config_reads_mmrotate_json() {
        let cfg: SplitConfig = serde_json::from_str(
            r#"{"nproc": 10, "img_dirs": ["a"], "ann_dirs": null, "sizes": [1024], "gaps": [500],
                "rates": [0.5, 1.0, 1.5], "img_rate_thr": 0.6, "iof_thr": 0.7, "no_padding": false,
                "padding_value": [104, 116, 124], "save_dir": "out", "save_ext": ".png"}"#,
        )
        .unwrap();
        let (s, g) = cfg.scaled_sizes_gaps().unwrap();
        assert_eq!(s, [2048, 1024, 682]);
        assert_eq!(g, [1000, 500, 333]);
        assert_eq!(cfg.padding_value.rgb(), [124, 116, 104]);
        assert!(serde_json::from_str::<SplitConfig>(r#"{"sizez": [1]}"#).is_err());
    }
}
