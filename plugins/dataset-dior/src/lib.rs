//! DIOR-R dataset plugin: entry `dior`. Annotation reading is in [`xml`], the folder layout and
//! split lists in [`dior`].

pub mod dior;
pub mod xml;

lmmrotate_abi::export_plugin!(backend: "rust");
