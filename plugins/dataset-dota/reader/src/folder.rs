//! A split stored as an image folder with one annotation file per image (DOTA `annfiles/*.txt`,
//! FAIR1M `labelXml/*.xml`, ...), each file read by the dataset's own parser.

use crate::{image_meta, list_images, stem, Problems};
use lmmrotate_abi::{ErrorKind, HostBox, Object, PluginError, Sample};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One folder of images and, unless unlabelled, the folder of its annotation files.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub images: PathBuf,
    pub annotations: Option<PathBuf>,
}

/// Reads one annotation file; `Ok(None)` when the whole file was reported to `Problems` and the
/// image is to be left out.
pub type ReadAnnotation<'a> = dyn FnMut(&Path, &mut Problems) -> Result<Option<Vec<Object>>, PluginError> + 'a;

/// The first of `names` that is a folder under `dir`.
pub fn find_dir(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_dir())
}

/// `dir/images` with the first annotation folder of `ann_names` found next to it (none: an
/// unlabelled split). An error names the missing `images` folder.
pub fn part(dir: &Path, ann_names: &[&str]) -> Result<Part, PluginError> {
    let images = dir.join("images");
    if !images.is_dir() {
        return Err(PluginError::new(ErrorKind::IO, format!("{} has no `images` folder", dir.display())));
    }
    Ok(Part { images, annotations: find_dir(dir, ann_names) })
}

/// Samples of all `parts` in order, images sorted by name within a part. Every image needs an
/// annotation file `<id>.<ext>` (the first of `exts` found) and every annotation file an image;
/// an id seen twice (e.g. in both `train` and `val`) is reported once and its first copy kept.
pub fn load_parts(
    parts: &[Part],
    exts: &[&str],
    read: &mut ReadAnnotation<'_>,
    problems: &mut Problems,
    host: &HostBox,
) -> Result<Vec<Sample>, PluginError> {
    let mut seen = HashSet::new();
    let mut samples = Vec::new();
    for part in parts {
        let images = list_images(&part.images)?;
        match &part.annotations {
            None => host.warn(format!(
                "{} has no annotation folder: its {} images are loaded without objects",
                part.images.display(),
                images.len()
            )),
            Some(ad) => host.debug(format!("reading {} with annotations from {}", part.images.display(), ad.display())),
        }
        let label = format!("load {}", part.images.display());
        let mut in_part = HashSet::new();
        for (i, path) in images.iter().enumerate() {
            if i % 256 == 0 {
                host.progress(label.as_str().into(), i as u64, images.len() as u64);
            }
            let id = stem(path);
            in_part.insert(id.clone());
            if !seen.insert(id.clone()) {
                problems.report(ErrorKind::PARSE, format!("{}: a second image with id {id:?}", path.display()))?;
                continue;
            }
            let image = match image_meta(path) {
                Ok(m) => m,
                Err(msg) => {
                    problems.report(ErrorKind::IO, msg)?;
                    continue;
                }
            };
            let objects = match &part.annotations {
                None => Vec::new(),
                Some(ad) => {
                    let Some(ann) = exts.iter().map(|e| ad.join(format!("{id}.{e}"))).find(|p| p.is_file()) else {
                        let want = ad.join(format!("{id}.{}", exts.join("|")));
                        problems.report(ErrorKind::IO, format!("{}: no annotation file {}", path.display(), want.display()))?;
                        continue;
                    };
                    match read(&ann, problems)? {
                        Some(o) => o,
                        None => continue,
                    }
                }
            };
            samples.push(Sample { image, objects: objects.into() });
        }
        host.progress(label.as_str().into(), images.len() as u64, images.len() as u64);
        if let Some(ad) = &part.annotations {
            for ann in files_with(ad, exts)? {
                if !in_part.contains(&stem(&ann)) {
                    problems.report(
                        ErrorKind::IO,
                        format!("{}: no image {}/{}.*", ann.display(), part.images.display(), stem(&ann)),
                    )?;
                }
            }
        }
    }
    Ok(samples)
}

/// Files in `dir` whose extension is one of `exts`, sorted.
fn files_with(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, PluginError> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| PluginError::from_std(ErrorKind::IO, &e).context(format!("listing {}", dir.display())))?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e)))
        .collect();
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_dota_annfile, ClassIndex};
    use crate::testutil::png_header;
    use lmmrotate_abi::NullHost;

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn parts_are_read_in_order_and_mismatches_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("train"), dir.path().join("val"));
        write(&a.join("images/x.png"), &png_header(5, 4));
        write(&a.join("annfiles/x.txt"), b"0 0 2 0 2 2 0 2 ship 0\n");
        write(&a.join("annfiles/orphan.txt"), b"");
        write(&b.join("images/y.png"), &png_header(7, 6));
        write(&b.join("images/x.png"), &png_header(5, 4));
        write(&b.join("annfiles/x.txt"), b"");
        let parts = [part(&a, &["annfiles"]).unwrap(), part(&b, &["annfiles"]).unwrap()];
        let classes = ClassIndex::new(&["ship"]);
        let mut read = |p: &Path, pr: &mut Problems| read_dota_annfile(p, &classes, pr);
        let mut problems = Problems::new(true);
        let samples = load_parts(&parts, &["txt"], &mut read, &mut problems, &NullHost::boxed()).unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!((samples[0].image.width, samples[0].objects.len()), (5, 1));
        let p = problems.into_vec();
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].contains("orphan.txt") && p[0].contains("no image"));
        assert!(p[1].contains("val/images/x.png") && p[1].contains("second image"));
        assert!(p[2].contains("y.png") && p[2].contains("no annotation file") && p[2].contains("y.txt"));
        assert!(part(dir.path(), &["annfiles"]).unwrap_err().to_string().contains("no `images` folder"));
    }
}
