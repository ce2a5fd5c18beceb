//! Response formats `v1`, `v2`, `v3`: LMMRotate's Florence-2 text of quad boxes (`<loc_k>` tokens
//! grouped by class name). The grammar and its quirks are in this crate's README.md.

pub mod config;
pub mod format;

pub use config::Config;
pub use format::Florence2;

lmmrotate_abi::export_plugin!(backend: "rust");
