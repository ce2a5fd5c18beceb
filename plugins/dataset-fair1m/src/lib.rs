//! FAIR1M dataset plugin: entries `fair1m` (FAIR1M-1.0) and `fair1m-2.0`. Class list in
//! [`classes`], the XML annotations in [`xml`], the DOTA-txt conversion in [`txt`], folder
//! layouts and entries in [`fair1m`].

pub mod classes;
pub mod fair1m;
pub mod txt;
pub mod xml;

lmmrotate_abi::export_plugin!(backend: "rust");
