//! Test helpers shared by the workspace: build plugin libraries and the `lmmrotate` binary on
//! demand (same profile as the running test), write temporary registries, compare golden files.
//!
//! The deliberately broken plugins used by the loader tests live in `fixtures/`.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

/// The workspace root (holds the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// `target/debug` or `target/release`: the folder the running test binary was built into.
pub fn profile_dir() -> PathBuf {
    // Test executables live in <target>/<profile>/deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

fn is_release() -> bool {
    profile_dir().file_name().is_some_and(|n| n == "release")
}

/// Builds the given packages (once per process per package) with cargo, in the profile of the
/// running test, so that their libraries and binaries are fresh in [`profile_dir`].
pub fn build(packages: &[&str]) {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !built.iter().any(|b| b == p)).collect();
    if missing.is_empty() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).arg("build").arg("--quiet");
    if is_release() {
        cmd.arg("--release");
    }
    for p in &missing {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build {missing:?} failed");
    built.extend(missing.iter().map(|s| s.to_string()));
}

/// The `lmmrotate` binary, built if needed.
pub fn lmmrotate_bin() -> PathBuf {
    build(&["lmmrotate-cli"]);
    profile_dir().join(format!("lmmrotate{}", std::env::consts::EXE_SUFFIX))
}

/// Writes `registry.toml` into `dir` with `abi = "0.1"`, `plugin_dir` = [`profile_dir`] and the
/// given `[[plugin]]` / `[[matrix]]` text; returns its path.
pub fn write_registry(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("registry.toml");
    let text = format!("abi = \"0.1\"\nplugin_dir = {:?}\n\n{body}", profile_dir().display().to_string());
    std::fs::write(&path, text).expect("write registry");
    path
}

/// Compares `actual` with the golden file at `path`; `LMMROTATE_BLESS=1` rewrites it instead.
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("LMMROTATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("golden file {} unreadable ({e}); run with LMMROTATE_BLESS=1", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!(
            "golden mismatch in {} (first differing line: {:?})\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display(),
            first.map(|i| i + 1)
        );
    }
}

/// The config of a tiny random-initialised Florence-2 with the test tokenizer on CPU, as an
/// inline TOML table for a `[[plugin]]` entry (end-to-end tests of the real model plugin).
pub fn tiny_florence2_config(image_size: u32, max_text_len: u32) -> String {
    let tokenizer = workspace_root().join("plugins/model-florence2-tch/tests/golden/tokenizer");
    format!(
        "{{ variant = \"tiny\", tokenizer = {:?}, image_size = {image_size}, max_text_len = {max_text_len}, device = \"cpu\" }}",
        tokenizer.display().to_string()
    )
}

/// Registry text for end-to-end tests of the real Florence-2 plugin: the tiny model as
/// `florence2` ([`tiny_florence2_config`]), the `v2` format and, when given, that entry of the
/// dataset-dota library (`synthetic`, `dota-folder`, ...) under its own name.
pub fn tiny_florence2_plugins(image_size: u32, max_text_len: u32, dataset: Option<&str>) -> String {
    let mut text = format!(
        "[[plugin]]\nkind = \"model\"\nname = \"florence2\"\nlib = \"lmmrotate_model_florence2_tch\"\nconfig = {}\n\n\
         [[plugin]]\nkind = \"format\"\nname = \"v2\"\nlib = \"lmmrotate_format_florence2\"\n",
        tiny_florence2_config(image_size, max_text_len)
    );
    if let Some(d) = dataset {
        text.push_str(&format!("\n[[plugin]]\nkind = \"dataset\"\nname = \"{d}\"\nlib = \"lmmrotate_dataset_dota\"\n"));
    }
    text
}

/// Whether tests that link libtorch can run (`LIBTORCH` set, as scripts/test.sh does); says why
/// not when they cannot.
pub fn has_libtorch() -> bool {
    let set = std::env::var_os("LIBTORCH").is_some();
    if !set {
        eprintln!("skipped: LIBTORCH is not set (scripts/test.sh sets it up)");
    }
    set
}

/// `lmmrotate --registry REGISTRY ARGS...`, run in `dir`.
pub fn lmmrotate(dir: &Path, registry: &Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(lmmrotate_bin());
    c.current_dir(dir).arg("--registry").arg(registry).args(args);
    c
}

/// The stdout of a finished command that must have exited 0; its stdout and stderr otherwise.
pub fn stdout_ok(o: std::process::Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The PNG signature and IHDR chunk of a `w` x `h` image: all that image-size readers (which
/// read headers, not pixels) need, so fixtures stay a few bytes.
pub fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend(w.to_be_bytes());
    v.extend(h.to_be_bytes());
    v.extend([8, 2, 0, 0, 0]);
    v
}

/// Writes `bytes` to `path`, creating its folders.
pub fn write_file(path: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().expect("a file path")).expect("create folders");
    std::fs::write(path, bytes).expect("write file");
}

/// Opens dataset entry `entry` linked into the running test (a plugin's rlib), as the host would
/// through the library, with `config` (e.g. a `serde_json::Value`) as its JSON.
pub fn open_dataset(
    entry: &str,
    config: impl std::fmt::Display,
    host: lmmrotate_abi::HostBox,
) -> Result<lmmrotate_abi::DatasetBox, String> {
    let e = lmmrotate_abi::plugin::find(lmmrotate_abi::PluginKind::Dataset, entry)
        .unwrap_or_else(|| panic!("no dataset entry `{entry}` linked into this test"));
    let lmmrotate_abi::Factory::Dataset(make) = &e.factory else { panic!("`{entry}` is not a dataset") };
    make(&config.to_string(), host).map_err(|e| e.to_string())
}
