//! Training and evaluation inputs: samples of dataset plugins encoded by a response format, or
//! upstream's SFT JSON files (`--data_path` / `--image_folder`), combined by a dataset mode.

use crate::{
    error::{CoreError, Result},
    plugins::{Dataset, Format},
    train::TrainSample,
};
use lmmrotate_abi::{ClassTable, Sample};
use std::path::{Path, PathBuf};

/// Every sample of a dataset split, in the dataset's order.
pub fn all_samples(ds: &Dataset) -> Result<Vec<Sample>> {
    let n = ds.len()?;
    (0..n).map(|i| ds.sample(i)).collect()
}

/// What encoding a dataset gave: the samples, and the images the format drops (v1/v2 drop
/// images without objects, as upstream's converter does).
pub struct Encoded {
    pub samples: Vec<TrainSample>,
    pub dropped_images: usize,
}

/// Objects with a difficulty above this are "ignored" ground truth (mmdet's `iscrowd`, kept by
/// the COCO readers with difficulty 1000): evaluation neither matches nor penalises them, and
/// training targets leave them out. DOTA's 0, 1 and 2 are all trained on, as upstream.
pub const IGNORED_DIFFICULTY: u32 = 100;

/// Target texts for every sample of `ds` through `format`.
pub fn encode_dataset(ds: &Dataset, format: &Format, classes: &ClassTable) -> Result<Encoded> {
    let mut samples = Vec::new();
    let mut dropped_images = 0;
    for s in all_samples(ds)? {
        match format.encode(&trained_objects(s.objects.as_slice()), &s.image, classes)? {
            Some(target) => samples.push(TrainSample { image: PathBuf::from(s.image.path.as_str()), target }),
            None => dropped_images += 1,
        }
    }
    Ok(Encoded { samples, dropped_images })
}

/// The objects a training target describes: all but the ignored ones.
pub fn trained_objects(objects: &[lmmrotate_abi::Object]) -> Vec<lmmrotate_abi::Object> {
    objects.iter().copied().filter(|o| o.difficulty <= IGNORED_DIFFICULTY).collect()
}

#[derive(serde::Deserialize)]
struct SftRecord {
    file_name: String,
    response: String,
}

/// Upstream's SFT JSON: a list of `{file_name, response, ...}`; images under `image_folder`.
pub fn read_sft_json(path: &Path, image_folder: &Path) -> Result<Vec<TrainSample>> {
    let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
    let records: Vec<SftRecord> = serde_json::from_str(&text).map_err(|e| {
        CoreError::Invalid(format!("{}: line {} column {}: {e}", path.display(), e.line(), e.column()))
    })?;
    Ok(records
        .into_iter()
        .map(|r| TrainSample { image: image_folder.join(r.file_name), target: r.response })
        .collect())
}

/// How several training sets combine (upstream `--dataset_mode`); the epoch's order comes from
/// [`lmmrotate_datatools::epoch_indices`].
pub use lmmrotate_datatools::DatasetMode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_objects_are_not_trained_on() {
        let o = |d| lmmrotate_abi::Object { quad: Default::default(), class_id: 0, difficulty: d };
        let kept: Vec<u32> = trained_objects(&[o(0), o(1), o(2), o(1000)]).iter().map(|x| x.difficulty).collect();
        assert_eq!(kept, vec![0, 1, 2]);
    }

    #[test]
    fn sft_json_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(&p, "[\n {\"file_name\": \"x.png\", \"response\": \"plane<loc_1>\"},\n {\"file_name\": 3}\n]").unwrap();
        let e = read_sft_json(&p, Path::new("imgs")).unwrap_err().to_string();
        assert!(e.contains("a.json: line 3"), "{e}");
        std::fs::write(&p, "[{\"file_name\": \"x.png\", \"response\": \"r\", \"id\": 1, \"width\": 4}]").unwrap();
        let s = read_sft_json(&p, Path::new("imgs")).unwrap();
        assert_eq!(s, vec![TrainSample { image: PathBuf::from("imgs/x.png"), target: "r".into() }]);
    }
}
