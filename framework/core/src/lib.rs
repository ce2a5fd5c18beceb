//! lmmrotate-core: the host side of the plugin boundary.
//!
//! - [`registry`]: `registry.toml`, the one list of plugins and eval-matrix cells;
//! - [`loader`]: loads plugin libraries once, with abi_stable's layout and version checks
//!   (the only `unsafe` of the host);
//! - [`plugins`]: typed handles over the loaded entries (`Model`, `Format`, `Dataset`);
//! - [`host`]: what plugins log and report progress through;
//! - [`images`]: decoding, resizing to a model's input, drawing boxes;
//! - [`vis`]: labelled boxes and ground truth | prediction pictures for people;
//! - [`train`]: the training driver (schedule, data order, checkpoints, logs);
//! - [`eval`]: resumable generation over a dataset, decoding and scoring;
//! - [`data`]: training inputs from dataset plugins or upstream SFT JSON;
//! - [`matrix`]: the registry's eval-matrix cells, their results and the report over them.

pub mod bench;
pub mod data;
pub mod devmem;
pub mod error;
pub mod eval;
pub mod host;
pub mod images;
pub mod loader;
pub mod matrix;
pub mod plugins;
pub mod registry;
pub mod train;
pub mod vis;

pub use error::{CoreError, Result};
pub use host::TerminalHost;
pub use plugins::{Dataset, Format, Model, Plugins};
pub use registry::{MatrixSpec, PluginSpec, Registry};
