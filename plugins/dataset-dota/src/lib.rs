//! DOTA-style dataset plugin: `dota` (v1.0), `dota-v1.5`, `dota-v2.0`, `dota-folder` (any folder
//! of images + DOTA annfiles) and `synthetic` (folders written by `lmmrotate data synth`).
//! The entries are registered in [`entries`]; loading lives in [`folder`].

pub mod classes;
pub mod config;
mod entries;
pub mod folder;

lmmrotate_abi::export_plugin!(backend: "rust");
