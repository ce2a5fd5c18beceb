//! Response format `allseeing`: `<ref>label</ref><box>[[x1, y1, ..., y4], ...]</box>` per class
//! group, bins 0..999 (LMMRotate's format for non-Florence models, after All-Seeing v2).

pub mod config;
pub mod encode;
pub mod extract;
pub mod format;

pub use config::Config;
pub use format::AllSeeing;

lmmrotate_abi::export_plugin!(backend: "rust");
