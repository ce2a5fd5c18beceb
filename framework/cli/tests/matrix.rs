//! The eval matrix end to end on CPU with a tiny Florence-2: two cells finish, one is skipped (a
//! format the model does not emit), one fails (the testkit's panicking format) without stopping
//! the others; a second run skips the finished cells, a cut response file resumes; the HTML
//! report is opened in headless Chromium when it is installed.

use lmmrotate_testkit as tk;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn registry(dir: &Path) -> PathBuf {
    tk::write_registry(
        dir,
        &format!(
            r#"
[[plugin]]
kind = "model"
name = "tiny"
lib = "lmmrotate_model_florence2_tch"
entry = "florence2"
formats = ["v2", "v3"]
config = {tiny}

[[plugin]]
kind = "model"
name = "tiny-any"
lib = "lmmrotate_model_florence2_tch"
entry = "florence2"
config = {tiny}

[[plugin]]
kind = "format"
name = "v1"
lib = "lmmrotate_format_florence2"

[[plugin]]
kind = "format"
name = "v2"
lib = "lmmrotate_format_florence2"

[[plugin]]
kind = "format"
name = "v3"
lib = "lmmrotate_format_florence2"

[[plugin]]
kind = "format"
name = "panics"
lib = "lmmrotate_fixture_panicking"

[[plugin]]
kind = "dataset"
name = "synthetic"
lib = "lmmrotate_dataset_dota"

[[matrix]]
models = ["tiny"]
datasets = ["synthetic"]
formats = ["v2", "v1", "v3"]
dataset_roots = {{ synthetic = "synth" }}
overrides = {{ batch_size = 2, num_beams = 1, max_new_tokens = 16 }}

# The broken cell: generation works, then the format's decode panics inside the plugin.
[[matrix]]
models = ["tiny-any"]
datasets = ["synthetic"]
formats = ["panics"]
dataset_roots = {{ synthetic = "synth" }}
overrides = {{ batch_size = 2, num_beams = 1, max_new_tokens = 16 }}
"#,
            tiny = tk::tiny_florence2_config(64, 256)
        ),
    )
}

fn cmd(dir: &Path, reg: &Path, args: &[&str]) -> Command {
    tk::lmmrotate(dir, reg, args)
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn results(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("mx/results.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn matrix_runs_skips_fails_resumes_and_reports() {
    if !tk::has_libtorch() {
        return;
    }
    tk::build(&["lmmrotate-model-florence2-tch", "lmmrotate-format-florence2", "lmmrotate-dataset-dota", "lmmrotate-fixture-panicking"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let reg = registry(dir);
    let o = cmd(dir, &reg, &["data", "synth", "--out", "synth", "--images", "4", "--size", "64", "--seed", "5"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let o = cmd(dir, &reg, &["matrix", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(listed.contains("tiny.synthetic.v1") && listed.contains("skipped: model `tiny` does not emit format `v1` (it emits: v2, v3)"), "{listed}");
    assert_eq!(listed.lines().count(), 4, "{listed}");

    // Run 1: two cells finish, v1 is skipped, the panicking cell fails; exit 2 for the failure.
    let o = cmd(dir, &reg, &["matrix", "run", "--out", "mx"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("2 ok, 1 failed, 1 skipped"), "{}", text(&o));
    let r = results(dir);
    let status: Vec<(&str, &str)> = r.iter().map(|l| (l["cell"].as_str().unwrap(), l["status"].as_str().unwrap())).collect();
    assert_eq!(
        status,
        [("tiny.synthetic.v2", "ok"), ("tiny.synthetic.v1", "skipped"), ("tiny.synthetic.v3", "ok"), ("tiny-any.synthetic.panics", "failed")]
    );
    for ok in [&r[0], &r[2]] {
        assert_eq!(ok["images"], 4, "{ok}");
        assert!(ok["map_nc_11points"].is_f64() && ok["mf1"].is_f64() && ok["images_per_s"].as_f64().unwrap() > 0.0, "{ok}");
        assert!(!ok["per_class"].as_array().unwrap().is_empty(), "{ok}");
        assert_eq!(ok["plugins"]["model"]["name"], "tiny", "{ok}");
        assert_eq!(ok["plugins"]["format"]["version"], env!("CARGO_PKG_VERSION"), "{ok}");
        assert_eq!(ok["lmmrotate_version"], env!("CARGO_PKG_VERSION"));
    }
    assert!(r[3]["error"].as_str().unwrap().contains("deliberate panic while decoding"), "{}", r[3]);
    assert!(r[1]["reason"].as_str().unwrap().contains("does not emit"));
    let md = read(dir.join("mx/report.md"));
    assert!(md.contains("| tiny-any.synthetic.panics | failed |") && md.contains("## AP_nc (11 points) per class: synthetic"), "{md}");

    // Run 2: the finished cells are not run again (their files stay as they were).
    let v2 = dir.join("mx/cells/tiny.synthetic.v2");
    let before = (read(v2.join("responses.jsonl")), read(v2.join("run.json")));
    let o = cmd(dir, &reg, &["matrix", "run", "--out", "mx"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("[1/4] tiny.synthetic.v2: finished earlier") && out.contains("[3/4] tiny.synthetic.v3: finished earlier"), "{out}");
    assert_eq!((read(v2.join("responses.jsonl")), read(v2.join("run.json"))), before);

    // A cell stopped half-way resumes: two responses kept, two generated.
    let v3 = dir.join("mx/cells/tiny.synthetic.v3");
    let kept: Vec<String> = read(v3.join("responses.jsonl")).lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(v3.join("responses.jsonl"), kept.concat()).unwrap();
    std::fs::remove_file(v3.join("metrics.json")).unwrap();
    let o = cmd(dir, &reg, &["matrix", "run", "--out", "mx", "--filter", "format=v3"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let rec: serde_json::Value = serde_json::from_str(&read(v3.join("run.json"))).unwrap();
    assert_eq!(rec["new_images"], 2, "{rec}");
    assert_eq!(read(v3.join("responses.jsonl")).lines().count(), 4);

    // The report again, from the folder alone; still exit 2 for the failed cell.
    let o = cmd(dir, &reg, &["matrix", "report", "--out", "mx"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(results(dir).len(), 4);
    let html = read(dir.join("mx/report.html"));
    assert_eq!(html.matches("<img src=\"data:image/jpeg;base64,").count(), 6, "3 pictures for each finished cell");
    assert!(html.contains("<table id=\"results\">") && html.contains("<svg"));

    browser_check(&dir.join("mx/report.html"));
}

/// Opens the page in headless Chromium: the table is there and every picture decoded. A copy
/// of the page carries a script that writes what the browser saw into the DOM.
fn browser_check(page: &Path) {
    if Command::new("chromium").arg("--version").output().is_err() {
        eprintln!("browser check skipped: `chromium` is not on PATH (scripts/setup.sh installs it as root)");
        return;
    }
    let probe = page.with_file_name("probe.html");
    let script = r#"<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.dataset.images = imgs.length;
  document.body.dataset.decoded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.rows = document.querySelectorAll('#results tbody tr').length;
});</script>"#;
    std::fs::write(&probe, read(page.to_path_buf()).replace("</body>", &format!("{script}</body>"))).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str], url: &Path| {
        Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            .args(["--disable-sync", "--no-first-run"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", url.display()))
            .output()
            .unwrap()
    };
    let o = chromium(&["--dump-dom"], &probe);
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(dom.contains("<table id=\"results\">"), "{}", text(&o));
    assert!(dom.contains(r#"data-images="6""#) && dom.contains(r#"data-decoded="6""#), "pictures did not decode: {}", dom.lines().find(|l| l.contains("<body")).unwrap_or(""));
    assert!(dom.contains(r#"data-rows="4""#), "table rows");

    let shot = page.with_file_name("report.png");
    let o = chromium(&["--window-size=1200,900", &format!("--screenshot={}", shot.display())], page);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {}", text(&o)));
    assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG"), "screenshot of {} bytes", png.len());
}
