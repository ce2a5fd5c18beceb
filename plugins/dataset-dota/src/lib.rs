//! DOTA-style dataset plugin: `dota` (v1.0), `dota-v1.5`, `dota-v2.0`, `dota-folder` (any folder
//! of images + DOTA annfiles) and `synthetic` (folders written by `lmmrotate data synth`).
//! The entries are registered in [`entries`]; loading lives in [`folder`] (through the shared
//! `lmmrotate-dataset-reader`, whose `DatasetConfig` is the config), upstream's `-train` split
//! selection in [`select`].

pub mod classes;
mod entries;
pub mod folder;
pub mod select;

lmmrotate_abi::export_plugin!(backend: "rust");
