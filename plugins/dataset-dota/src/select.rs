//! Upstream's `-train` splits: LMMRotate trains `dota_train` on the trainval patches of DOTA's
//! *train* images and scores it on those of the *val* images, which have ground truth for mF1
//! (upstream `playground/convert_dota_for_sft.py`, `filter_train_split_from_florence_dota` and
//! `filter_seperate_split_from_split_dota`: keep a patch when `file_name[:5]` is a file name of
//! `DOTA/train/images` without `.png`).
//!
//! A patch's original image id is its name without mmrotate's `__{size}__{x}___{y}` suffix.
//! For DOTA's ids (`P` and four digits) that is exactly upstream's first five characters; for
//! longer ids it still finds the image where `[:5]` would not.

use lmmrotate_abi::{ErrorKind, HostBox, PluginError};
use lmmrotate_dataset_reader::config::Selection;
use lmmrotate_dataset_reader::Loaded;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The original image id of a patch named `{id}__{size}__{x}___{y}` (mmrotate's img_split), or
/// the whole name when it is not a patch name.
pub fn original_id(name: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let Some((head, y)) = name.rsplit_once("___") else { return name };
    let Some((head, x)) = head.rsplit_once("__") else { return name };
    let Some((id, size)) = head.rsplit_once("__") else { return name };
    if digits(y) && digits(x) && digits(size) && !id.is_empty() {
        id
    } else {
        name
    }
}

/// The ids `path` lists: the file stems of a folder (upstream lists the original image folder),
/// or the non-empty lines of a text file.
pub fn read_ids(path: &Path) -> Result<HashSet<String>, PluginError> {
    let io = |e: std::io::Error| PluginError::from_std(ErrorKind::IO, &e).context(format!("reading ids from {}", path.display()));
    let ids: HashSet<String> = if path.is_dir() {
        let rd = std::fs::read_dir(path).map_err(io)?;
        rd.flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect()
    } else {
        std::fs::read_to_string(path).map_err(io)?.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
    };
    if ids.is_empty() {
        return Err(PluginError::new(ErrorKind::INVALID_CONFIG, format!("{} lists no image ids", path.display())));
    }
    Ok(ids)
}

/// Keeps the samples of `loaded` (split `sel.from`) that selection `name` takes. `all` is every
/// selection of the config: patches of `sel.from` that none of them takes are counted in a
/// warning, where upstream's splitter stops with "Invalid filename".
pub fn keep(
    loaded: &mut Loaded,
    name: &str,
    sel: &Selection,
    all: &BTreeMap<String, Selection>,
    host: &HostBox,
) -> Result<(), PluginError> {
    let key = format!("select.{name}.ids");
    let ids = read_ids(Path::new(&sel.ids)).map_err(|e| e.context(key.clone()))?;
    let before = loaded.samples.len();
    let mut others: Vec<HashSet<String>> = Vec::new();
    for (other, s) in all.iter().filter(|(n, s)| n.as_str() != name && s.from == sel.from) {
        match read_ids(Path::new(&s.ids)) {
            Ok(set) => others.push(set),
            Err(e) => host.debug(format!("select.{other}.ids not read for the coverage check: {e}")),
        }
    }
    let in_none = loaded
        .samples
        .iter()
        .map(|s| original_id(s.image.id.as_str()))
        .filter(|id| !ids.contains(*id) && !others.iter().any(|o| o.contains(*id)))
        .count();
    loaded.samples.retain(|s| ids.contains(original_id(s.image.id.as_str())));
    if loaded.samples.is_empty() && before > 0 {
        let example: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
        return Err(PluginError::new(
            ErrorKind::INVALID_CONFIG,
            format!(
                "{key}: none of the {before} images of split {:?} comes from the {} ids in {} (ids like {})",
                sel.from,
                ids.len(),
                sel.ids,
                example.join(", ")
            ),
        ));
    }
    host.info(format!("split {name}: {} of the {before} images of {:?} (original ids in {})", loaded.samples.len(), sel.from, sel.ids));
    if in_none > 0 {
        host.warn(format!("{in_none} images of {:?} come from ids in no split of `select`", sel.from));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_ids_of_patch_names() {
        // Upstream's rule on DOTA names: the first five characters.
        for name in ["P0000__1024__0___0", "P1234__1024__824___1648", "P0007__512__0___0"] {
            assert_eq!(original_id(name), &name[..5]);
        }
        assert_eq!(original_id("P0000"), "P0000");
        assert_eq!(original_id("12345678__1024__0___824"), "12345678");
        assert_eq!(original_id("a__b__1024__0___0"), "a__b");
        // Not a patch name: the name itself.
        for name in ["x__1024__0___y", "__1024__0___0", "a___0", "P0000__1024___0"] {
            assert_eq!(original_id(name), name);
        }
    }
}
