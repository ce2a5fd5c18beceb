//! lmmrotate-metrics: LMMRotate's evaluation (mAP, mAP_nc, mF1) on rotated boxes, the readers for
//! DOTA annotations and predictions, and DOTA Task1 submission files.

pub mod ap;
pub mod classes;
pub mod error;
pub mod evaluate;
pub mod f1;
pub mod input;
pub mod read;
pub mod report;
pub mod rng;
pub mod task1;

pub use ap::{average_precision, ApMode};
pub use classes::{normalize_class, ClassIndex};
pub use error::{EvalError, LineProblem, ReadError, Task1Error};
pub use evaluate::{evaluate, EvalOptions};
pub use f1::{ConfusionMatrix, F1Summary};
pub use input::{BuildOptions, Detection, EvalImage, EvalInput, GtImage, GtObject, Labeled, PredImage, Scored};
pub use read::{read_dota_annfile, read_dota_annfiles, read_predictions_jsonl, read_task1_dir, Loaded, ReadOptions};
pub use report::{ClassRow, MeanSd, Report, TieStats};
pub use task1::{merge_patches, parse_patch_name, task1_line, write_task1, MergedImage};
