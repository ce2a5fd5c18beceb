//! End-to-end tests of the `lmmrotate` binary in a temp folder with a test registry.

use lmmrotate_testkit as tk;
use std::process::{Command, Output};

const REGISTRY: &str = r#"
[[plugin]]
kind = "format"
name = "plain"
lib = "lmmrotate_example_format"
description = "example third-party format"

[[plugin]]
kind = "format"
name = "panics"
lib = "lmmrotate_fixture_panicking"

[[plugin]]
kind = "format"
name = "missing"
lib = "lmmrotate_no_such_library"
"#;

fn run(args: &[&str], stdin: Option<&str>) -> (tempfile::TempDir, Output) {
    tk::build(&["lmmrotate-example-format", "lmmrotate-fixture-panicking"]);
    let bin = tk::lmmrotate_bin();
    let dir = tempfile::tempdir().unwrap();
    let reg = tk::write_registry(dir.path(), REGISTRY);
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir.path()).arg("--registry").arg(&reg).args(args).env_remove("LMMROTATE_PLUGIN_DIR");
    let out = match stdin {
        None => cmd.output().unwrap(),
        Some(text) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            child.wait_with_output().unwrap()
        }
    };
    (dir, out)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn plugins_lists_every_entry_with_status_and_exits_1_when_some_fail() {
    let (_d, out) = run(&["plugins"], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let plain = stdout.lines().find(|l| l.starts_with("format   plain")).expect(&stdout);
    assert!(plain.contains("0.1.0") && plain.contains(" ok ") && plain.contains("rust"), "{plain}");
    let missing = stdout.lines().find(|l| l.starts_with("format   missing")).expect(&stdout);
    assert!(missing.contains("FAILED"), "{missing}");
    assert!(stdout.contains("file not found"), "{stdout}");
}

#[test]
fn plugins_json_is_one_object_per_plugin() {
    let (_d, out) = run(&["plugins", "--json"], None);
    let rows: Vec<serde_json::Value> =
        text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["name"], "plain");
    assert_eq!(rows[0]["status"], "ok");
    assert_eq!(rows[0]["abi"], lmmrotate_abi::ABI_VERSION);
}

#[test]
fn decode_through_the_example_plugin() {
    let (_d, out) = run(
        &["decode", "--format", "plain", "--size", "100x50", "--classes", "plane,ship"],
        Some("ship 1 2 3 4 5 6 7 8\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["detections"][0]["class"], "ship");
    assert_eq!(v["detections"][0]["quad"], serde_json::json!([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]));
    assert!(v["detections"][0]["score"].is_null());
}

#[test]
fn plugin_panic_is_reported_with_exit_2_not_an_abort() {
    let (_d, out) = run(&["decode", "--format", "panics", "--size", "10x10", "--classes", "a", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("error: format plugin `panics`: plugin panicked: deliberate panic while decoding"), "{err}");
}

#[test]
fn unknown_format_lists_the_available_ones() {
    let (_d, out) = run(&["decode", "--format", "v4", "--size", "10x10", "--classes", "a", "x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown format `v4` (available: plain, panics, missing)"));
}

#[test]
fn help_describes_the_tool() {
    let (_d, out) = run(&["--help"], None);
    let s = text(&out.stdout);
    assert!(s.contains("oriented objects") && s.contains("plugins") && s.contains("--registry"), "{s}");
}
