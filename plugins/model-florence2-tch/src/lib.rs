//! Florence-2 on libtorch (tch 0.24.0 / PyTorch 2.11.0): the network, checkpoints, tokenizer,
//! generation and training behind the `florence2` model entry.

pub mod checkpoint;
pub mod config;
pub mod generate;
pub mod language;
pub mod model;
pub mod vision;
