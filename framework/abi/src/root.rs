//! The root module every plugin library exports, and the macro that exports it.
//!
//! The host reads the root module with abi_stable's checked loading: the layout of every type
//! reachable from [`LmmPlugin`] is compared with the host's before any call, and the version
//! strings (taken from [`ABI_VERSION`], not from crate versions) must be compatible.

use crate::{
    boundary::{DatasetBox, FormatBox, ModelBox},
    error::{ErrorKind, PluginError},
    guard::guard,
    host::HostBox,
    plugin::{self, Factory},
    types::*,
    ABI_VERSION,
};
use abi_stable::{
    library::RootModule,
    prefix_type::PrefixTypeTrait,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString, RVec},
    StableAbi,
};

/// Who built a library: its package name and version, the ABI it was built for, its backend.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct LibraryInfo {
    pub package: RString,
    pub version: RString,
    pub abi_version: RString,
    /// e.g. `tch 0.24.0 (libtorch 2.11.0)`, `rust` for pure-Rust plugins.
    pub backend: RString,
}

/// The root module of a plugin library.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = LmmPluginRef)))]
#[sabi(missing_field(panic))]
pub struct LmmPlugin {
    pub library: extern "C" fn() -> LibraryInfo,
    pub entries: extern "C" fn() -> RVec<EntryInfo>,
    pub new_model: extern "C" fn(RStr<'_>, RStr<'_>, HostBox) -> RResult<ModelBox, PluginError>,
    pub new_format: extern "C" fn(RStr<'_>, RStr<'_>, HostBox) -> RResult<FormatBox, PluginError>,
    /// End of ABI 0.1: add new fields below this one; the marker moves only with a minor bump.
    #[sabi(last_prefix_field)]
    pub new_dataset: extern "C" fn(RStr<'_>, RStr<'_>, HostBox) -> RResult<DatasetBox, PluginError>,
}

impl RootModule for LmmPluginRef {
    abi_stable::declare_root_module_statics! {LmmPluginRef}
    const BASE_NAME: &'static str = "lmmrotate_plugin";
    const NAME: &'static str = "lmmrotate plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(ABI_VERSION);
}

/// Name of the exported static that holds the library header (abi_stable 0.11's mangling of
/// `lib_header.root module loader`); a test checks it against abi_stable's own constant.
#[doc(hidden)]
pub const LOADER_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

#[doc(hidden)]
pub fn library_info(package: &str, version: &str, backend: &str, abi_version: &str) -> LibraryInfo {
    LibraryInfo {
        package: package.into(),
        version: version.into(),
        abi_version: abi_version.into(),
        backend: backend.into(),
    }
}

#[doc(hidden)]
pub fn root_module(library: extern "C" fn() -> LibraryInfo) -> LmmPluginRef {
    LmmPlugin { library, entries, new_model, new_format, new_dataset }.leak_into_prefix()
}

extern "C" fn entries() -> RVec<EntryInfo> {
    // Building a list of static strings cannot fail; a panic here would be a bug in inventory.
    plugin::entries()
        .into_iter()
        .map(|e| EntryInfo { kind: e.kind(), name: e.name.into(), description: e.description.into() })
        .collect()
}

fn unknown(kind: PluginKind, name: &str) -> PluginError {
    let names: Vec<&str> = plugin::entries().into_iter().filter(|e| e.kind() == kind).map(|e| e.name).collect();
    PluginError::new(
        ErrorKind::UNKNOWN_ENTRY,
        format!("this library has no {} `{name}` (it has: {})", kind.as_str(), names.join(", ")),
    )
}

extern "C" fn new_model(name: RStr<'_>, config: RStr<'_>, host: HostBox) -> RResult<ModelBox, PluginError> {
    guard(|| match plugin::find(PluginKind::Model, name.as_str()).map(|e| &e.factory) {
        Some(Factory::Model(f)) => f(config.as_str(), host),
        _ => Err(unknown(PluginKind::Model, name.as_str())),
    })
}

extern "C" fn new_format(name: RStr<'_>, config: RStr<'_>, host: HostBox) -> RResult<FormatBox, PluginError> {
    guard(|| match plugin::find(PluginKind::Format, name.as_str()).map(|e| &e.factory) {
        Some(Factory::Format(f)) => f(config.as_str(), host),
        _ => Err(unknown(PluginKind::Format, name.as_str())),
    })
}

extern "C" fn new_dataset(name: RStr<'_>, config: RStr<'_>, host: HostBox) -> RResult<DatasetBox, PluginError> {
    guard(|| match plugin::find(PluginKind::Dataset, name.as_str()).map(|e| &e.factory) {
        Some(Factory::Dataset(f)) => f(config.as_str(), host),
        _ => Err(unknown(PluginKind::Dataset, name.as_str())),
    })
}

/// Exports the root module of a plugin library. Put it once in the plugin's `lib.rs`:
///
/// ```ignore
/// lmmrotate_abi::export_plugin!(backend: "rust");
/// ```
///
/// It does what abi_stable's `#[export_root_module]` does, with paths through this crate so that
/// a plugin needs no direct dependency on abi_stable.
#[macro_export]
macro_rules! export_plugin {
    (backend: $backend:expr) => {
        $crate::export_plugin!(@impl $backend, $crate::ABI_VERSION);
    };
    // Only for the loader's negative tests: claim another ABI version.
    (backend: $backend:expr, claimed_abi_version: $abi:expr) => {
        $crate::export_plugin!(@impl $backend, $abi);
    };
    (@impl $backend:expr, $abi:expr) => {
        extern "C" fn __lmmrotate_library_info() -> $crate::LibraryInfo {
            $crate::root::library_info(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"), ::std::convert::AsRef::<str>::as_ref(&$backend), $abi)
        }

        fn __lmmrotate_root_module() -> $crate::LmmPluginRef {
            $crate::root::root_module(__lmmrotate_library_info)
        }

        #[no_mangle]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::abi_stable::library::LibHeader = {
            extern "C" fn erased() -> $crate::abi_stable::library::RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(__lmmrotate_root_module)
            }
            // SAFETY: `erased` returns the root module of type `LmmPluginRef`, the type named here;
            // this is the same constructor abi_stable's `#[export_root_module]` emits.
            unsafe {
                $crate::abi_stable::library::LibHeader::from_constructor::<$crate::LmmPluginRef>(
                    erased,
                    $crate::abi_stable::library::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_symbol_matches_abi_stable() {
        assert_eq!(LOADER_SYMBOL, abi_stable::library::ROOT_MODULE_LOADER_NAME);
    }

    #[test]
    fn version_strings_come_from_abi_version() {
        let v = <LmmPluginRef as RootModule>::VERSION_STRINGS.parsed().unwrap();
        assert_eq!(format!("{}.{}.{}", v.major, v.minor, v.patch), ABI_VERSION);
    }
}
