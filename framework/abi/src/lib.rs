//! lmmrotate-abi: everything that crosses between the `lmmrotate` host and a plugin library.
//!
//! A plugin is a `cdylib` that depends on this crate only (plus stateless leaf crates such as
//! `lmmrotate-geometry`). It implements one of the Rust traits in [`plugin`] for each entry it
//! offers, registers the entry with [`inventory::submit!`] next to its code, and exports the root
//! module with [`export_plugin!`]. The host loads the library, checks the ABI and type layouts,
//! and talks to the entries through the `#[sabi_trait]` objects in [`boundary`].
//!
//! Only `StableAbi` data crosses: `RString`, `RVec`, `RResult`, `#[repr(C)]` structs. Tensors,
//! images as library types and `std` collections never do.

// abi_stable's `#[sabi_trait]` expansion puts impls inside a const block; that is its design.
#![allow(non_local_definitions)]

pub mod boundary;
pub mod comm;
pub mod error;
pub mod guard;
pub mod host;
pub mod plugin;
pub mod root;
pub mod types;

pub use abi_stable;
pub use inventory;

pub use boundary::{dataset_box, format_box, model_box, DatasetBox, FormatBox, ModelBox};
pub use comm::{Buffer, CommBox, Communicator, DType};
pub use error::{ErrorKind, PluginError, ResultExt};
pub use guard::guard;
pub use host::{Host, HostBox, LogLevel, NullHost};
pub use plugin::{DatasetPlugin, Entry, Factory, FormatPlugin, ModelPlugin};
pub use root::{LibraryInfo, LmmPlugin, LmmPluginRef};
pub use types::*;

/// Version of the plugin ABI: the types and traits of this crate.
///
/// It is separate from crate versions. Caret rules apply: a plugin built for `0.1.x` loads in a
/// host of `0.1.y`; `0.2` does not load in `0.1`. Bump the minor (while `0.x`) for an incompatible
/// change of a crossing type and the patch for methods added after a `last_prefix_field` marker
/// (0.1.1: `Model::set_communicator`), and record the layout change in `tests/layout.golden`.
pub const ABI_VERSION: &str = "0.1.1";
