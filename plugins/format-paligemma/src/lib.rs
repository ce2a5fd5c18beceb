//! Response format `paligemma`: oriented boxes in PaliGemma's own detection grammar, one object per
//! entry, `<locY1><locX1>…<locY4><locX4> class`, entries joined by ` ; ` (see README.md).

pub mod config;
pub mod decode;
pub mod encode;
pub mod format;

pub use config::Config;
pub use format::PaliGemmaFormat;

lmmrotate_abi::export_plugin!(backend: "rust");
