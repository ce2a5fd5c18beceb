//! SRSDD-v1.0 dataset plugin: entry `srsdd`, registered with its classes and layout in
//! [`srsdd`].

pub mod srsdd;

lmmrotate_abi::export_plugin!(backend: "rust");
