//! The loader against real plugin libraries: the example third-party plugin, and each
//! deliberately broken fixture (framework/testkit/fixtures). Every failure must be a clear error
//! while the host process keeps running and keeps using the plugins that work.

use lmmrotate_abi::{ClassTable, ErrorKind, ImageMeta, PluginKind};
use lmmrotate_core::{CoreError, Plugins, Registry, TerminalHost};
use lmmrotate_testkit as tk;

const REGISTRY: &str = r#"
[[plugin]]
kind = "format"
name = "plain"
lib = "lmmrotate_example_format"

[[plugin]]
kind = "format"
name = "panics"
lib = "lmmrotate_fixture_panicking"

[[plugin]]
kind = "format"
name = "panics-on-new"
lib = "lmmrotate_fixture_panicking"

[[plugin]]
kind = "format"
name = "future"
lib = "lmmrotate_fixture_abi_mismatch"

[[plugin]]
kind = "format"
name = "badlayout"
lib = "lmmrotate_fixture_bad_layout"

[[plugin]]
kind = "format"
name = "missing"
lib = "lmmrotate_no_such_library"

[[plugin]]
kind = "format"
name = "wrongentry"
lib = "lmmrotate_example_format"
entry = "nope"
"#;

fn plugins() -> (tempfile::TempDir, Plugins) {
    tk::build(&[
        "lmmrotate-example-format",
        "lmmrotate-fixture-panicking",
        "lmmrotate-fixture-abi-mismatch",
        "lmmrotate-fixture-bad-layout",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = tk::write_registry(dir.path(), REGISTRY);
    let reg = Registry::load(&path, None).unwrap();
    (dir, Plugins::new(reg, TerminalHost::new("test", false)))
}

fn image() -> ImageMeta {
    ImageMeta { id: "a".into(), path: "a.png".into(), width: 100, height: 100 }
}

fn load_error(p: &Plugins, name: &str) -> String {
    match p.format(name, &serde_json::json!({})) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn example_third_party_plugin_works_end_to_end() {
    let (_d, p) = plugins();
    let f = p.format("plain", &serde_json::json!({})).unwrap();
    let classes = ClassTable::from_names(&["plane", "ship"]);
    let d = f.decode("ship 1 2 3 4 5 6 7 8\nnonsense", &image(), &classes).unwrap();
    assert_eq!(d.detections.len(), 1);
    assert_eq!(d.detections[0].class_id, 1);
    assert_eq!(d.dropped[0].reason.as_str(), "malformed line");
    // Its config is validated inside the plugin and the error comes back intact.
    let e = p.format("plain", &serde_json::json!({"x": 1})).err().unwrap().to_string();
    assert_eq!(e, "format plugin `plain`: invalid config: `plain` takes no options, got {\"x\":1}");
}

#[test]
fn panic_in_a_method_is_an_error_and_the_host_goes_on() {
    let (_d, p) = plugins();
    let f = p.format("panics", &serde_json::json!({})).unwrap();
    let classes = ClassTable::from_names(&["plane"]);
    for _ in 0..3 {
        match f.decode("abc", &image(), &classes) {
            Err(CoreError::Plugin { kind: PluginKind::Format, name, error }) => {
                assert_eq!(name, "panics");
                assert_eq!(error.kind, ErrorKind::PANICKED);
                assert!(error.to_string().contains("deliberate panic while decoding \"abc\""), "{error}");
            }
            other => panic!("expected a panic error, got {:?}", other.map(|d| d.detections.len())),
        }
    }
    // The same library keeps serving its other calls, and other plugins still work.
    assert_eq!(f.encode(&[], &image(), &classes).unwrap(), None);
    assert!(p.format("plain", &serde_json::json!({})).is_ok());
}

#[test]
fn panic_in_a_constructor_is_an_error() {
    let (_d, p) = plugins();
    let e = load_error(&p, "panics-on-new");
    assert_eq!(e, "format plugin `panics-on-new`: plugin panicked: deliberate panic in new");
}

#[test]
fn wrong_abi_version_is_refused() {
    let (_d, p) = plugins();
    let e = load_error(&p, "future");
    assert!(e.contains("liblmmrotate_fixture_abi_mismatch.so"), "{e}");
    assert!(e.contains("built for plugin ABI 9.0.0, but the registry requires ^0.1"), "{e}");
}

#[test]
fn incompatible_layout_is_refused_before_any_call() {
    let (_d, p) = plugins();
    let e = load_error(&p, "badlayout");
    assert!(e.contains("liblmmrotate_fixture_bad_layout.so"), "{e}");
    assert!(e.contains("incompatible layout"), "{e}");
}

#[test]
fn missing_library_names_the_path() {
    let (_d, p) = plugins();
    let e = load_error(&p, "missing");
    assert!(e.contains("liblmmrotate_no_such_library.so: file not found"), "{e}");
}

#[test]
fn entry_missing_from_library_lists_what_it_has() {
    let (_d, p) = plugins();
    let e = load_error(&p, "wrongentry");
    assert!(e.contains("has no format entry `nope`") && e.contains("the library offers: format plain"), "{e}");
}

#[test]
fn unknown_name_lists_registered_ones() {
    let (_d, p) = plugins();
    let e = load_error(&p, "v4");
    assert_eq!(e, "unknown format `v4` (available: plain, panics, panics-on-new, future, badlayout, missing, wrongentry)");
}
