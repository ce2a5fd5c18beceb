//! lmmrotate-datatools: data preparation that the CLI drives. [`split`] cuts large images into
//! patches exactly as mmrotate's `img_split.py`; [`modes`] builds each epoch's sample order for
//! training on several datasets as upstream LMMRotate does, with [`pyrandom`] reproducing
//! CPython's `random.Random` so that the orders are identical.

pub mod modes;
pub mod pyrandom;
pub mod split;

pub use modes::{epoch_indices, DatasetMode, ModeError};
pub use split::{split_dota, sliding_windows, SplitConfig, SplitError, SplitSummary};
