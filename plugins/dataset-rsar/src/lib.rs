//! RSAR dataset plugin: entry `rsar`, registered with its classes and layout in [`rsar`].

pub mod rsar;

lmmrotate_abi::export_plugin!(backend: "rust");
