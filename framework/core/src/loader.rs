//! Loads plugin libraries: once per path, never unloaded, with abi_stable's checks.
//!
//! This is the only file of the host with `unsafe`-adjacent work: `lib_header_from_path` opens the
//! library with the platform loader, which runs the library's initialisers. Libraries are only
//! opened from paths named in `registry.toml`, and are never closed (unloading Rust libraries with
//! thread-locals is unsound; abi_stable leaks them by design).

use crate::error::{CoreError, Result};
use abi_stable::library::{lib_header_from_path, LibraryError};
use lmmrotate_abi::{EntryInfo, LibraryInfo, LmmPluginRef};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

/// A loaded, checked plugin library.
pub struct Library {
    pub path: PathBuf,
    pub info: LibraryInfo,
    pub entries: Vec<EntryInfo>,
    pub root: LmmPluginRef,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library").field("path", &self.path).field("info", &self.info).finish_non_exhaustive()
    }
}

type Cache = Mutex<HashMap<PathBuf, std::result::Result<Arc<Library>, String>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Loads the library at `path` (once per process) and checks that it speaks an ABI matching
/// `abi`. A failed load is remembered too, so the error is reported the same way each time.
pub fn load(path: &Path, abi: &semver::VersionReq) -> Result<Arc<Library>> {
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mut cache = cache().lock().unwrap_or_else(|p| p.into_inner());
    let entry = cache.entry(key).or_insert_with(|| open(path).map(Arc::new));
    let lib = entry.clone().map_err(|message| CoreError::Load { path: path.to_path_buf(), message })?;
    drop(cache);

    let claimed = lib.info.abi_version.as_str();
    let ok = semver::Version::parse(claimed).map(|v| abi.matches(&v)).unwrap_or(false);
    if !ok {
        return Err(CoreError::Load {
            path: path.to_path_buf(),
            message: format!(
                "built for plugin ABI {claimed}, but the registry requires {abi} (rebuild the plugin against lmmrotate-abi {})",
                lmmrotate_abi::ABI_VERSION
            ),
        });
    }
    Ok(lib)
}

fn open(path: &Path) -> std::result::Result<Library, String> {
    if !path.exists() {
        return Err("file not found (build it with `cargo build --release -p <plugin>` or fix `plugin_dir`/`lib` in registry.toml)".into());
    }
    // Opening runs the library's initialisers; the path comes from registry.toml only, and the
    // header is leaked by abi_stable so the library stays loaded for the life of the process.
    let header = lib_header_from_path(path).map_err(describe)?;
    let root = header.init_root_module::<LmmPluginRef>().map_err(describe)?;
    let info = (root.library())();
    let entries = (root.entries())().into_vec();
    Ok(Library { path: path.to_path_buf(), info, entries, root })
}

/// One readable sentence per abi_stable failure.
fn describe(e: LibraryError) -> String {
    match e {
        LibraryError::OpenError { err, .. } => format!("cannot open: {err}"),
        LibraryError::GetSymbolError { .. } => {
            "not an lmmrotate plugin: it exports no abi_stable root module (was it built with `lmmrotate_abi::export_plugin!`?)"
                .to_string()
        }
        LibraryError::IncompatibleVersionNumber { library_name, expected_version, actual_version } => format!(
            "{library_name}: plugin ABI version {actual_version} is incompatible with this host's {expected_version}"
        ),
        LibraryError::AbiInstability(errs) => {
            let text = errs.to_string();
            let first: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(12).collect();
            format!("its types do not match this host's (incompatible layout; rebuild it against this lmmrotate-abi):\n{}", first.join("\n"))
        }
        LibraryError::InvalidAbiHeader(h) => format!("abi_stable header {h:?} is not supported by this host's abi_stable"),
        LibraryError::InvalidCAbi { expected, found } => format!("C ABI mismatch: expected {expected}, found {found}"),
        other => other.to_string(),
    }
}
