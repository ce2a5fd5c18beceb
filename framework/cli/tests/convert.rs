//! `lmmrotate data convert` end to end: the annotation cases of the format goldens
//! (plugins/format-florence2/tests/golden/encode.json, from an independent Python re-statement of
//! upstream's converter) written as annfiles and COCO JSON must give the golden responses.

use lmmrotate_testkit as tk;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

fn setup() -> (tempfile::TempDir, PathBuf) {
    tk::build(&["lmmrotate-format-florence2", "lmmrotate-dataset-dota"]);
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for v in ["v1", "v2", "v3"] {
        body += &format!("[[plugin]]\nkind = \"format\"\nname = \"{v}\"\nlib = \"lmmrotate_format_florence2\"\n\n");
    }
    body += "[[plugin]]\nkind = \"dataset\"\nname = \"dota-folder\"\nlib = \"lmmrotate_dataset_dota\"\n\n";
    body += &format!(
        "[[plugin]]\nkind = \"model\"\nname = \"florence2\"\nlib = \"lmmrotate_model_florence2_tch\"\n\
         config = {}\n",
        tk::tiny_florence2_config(64, 256)
    );
    let reg = tk::write_registry(dir.path(), &body);
    (dir, reg)
}

fn convert(dir: &Path, reg: &Path, args: &[&str]) -> Output {
    tk::lmmrotate(dir, reg, &["data", "convert"]).args(args).output().unwrap()
}

fn ok(o: Output) -> String {
    tk::stdout_ok(o)
}

fn failed(o: Output) -> String {
    assert_eq!(o.status.code(), Some(2), "stdout:\n{}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn cases() -> Vec<Value> {
    let path = tk::workspace_root().join("plugins/format-florence2/tests/golden/encode.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn png_header(w: u64, h: u64) -> Vec<u8> {
    tk::png_header(w as u32, h as u32)
}

fn write(path: &Path, bytes: &[u8]) {
    tk::write_file(path, bytes);
}

/// One annfile line per object: `x1 y1 ... x4 y4 class 0`.
fn annfile(case: &Value) -> String {
    let classes = case["classes"].as_array().unwrap();
    let mut s = String::new();
    for o in case["objects"].as_array().unwrap() {
        let pts: Vec<String> = o["poly"].as_array().unwrap().iter().map(|v| v.to_string()).collect();
        s += &format!("{} {} 0\n", pts.join(" "), classes[o["class"].as_u64().unwrap() as usize].as_str().unwrap());
    }
    s
}

fn records(path: &Path) -> Vec<Value> {
    serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap().as_array().unwrap().clone()
}

#[test]
fn annfiles_give_the_golden_responses_with_ids_in_file_order() {
    let (tmp, reg) = setup();
    let dir = tmp.path();
    // Annfile class names cannot hold spaces: the DOTA-class cases, one folder per quantisation.
    let all = cases();
    let dota: Vec<&Value> = all.iter().filter(|c| c["classes"][0] == "plane").collect();
    assert!(dota.len() >= 15 && dota.iter().any(|c| c["objects"].as_array().unwrap().is_empty()));
    for (integer, q) in [(true, "f32"), (false, "f64")] {
        let mine: Vec<&&Value> = dota.iter().filter(|c| c["integer"] == integer).collect();
        let root = dir.join(q);
        for c in &mine {
            let name = c["name"].as_str().unwrap();
            write(&root.join(format!("images/{name}.png")), &png_header(c["width"].as_u64().unwrap(), c["height"].as_u64().unwrap()));
            write(&root.join(format!("annfiles/{name}.txt")), annfile(c).as_bytes());
        }
        let mut names: Vec<&str> = mine.iter().map(|c| c["name"].as_str().unwrap()).collect();
        names.sort();
        let classes = mine[0]["classes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join(",");
        let empty = mine.iter().filter(|c| c["objects"].as_array().unwrap().is_empty()).count();
        for v in ["v1", "v2", "v3"] {
            let out = format!("{q}_{v}.json");
            let input = root.join("annfiles").display().to_string();
            let stdout = ok(convert(dir, &reg, &["--input", &input, "--format", v, "--out", &out, "--quantize", q, "--classes", &classes]));
            let recs = records(&dir.join(&out));
            let kept = if v == "v3" { names.len() } else { names.len() - empty };
            assert_eq!(recs.len(), kept, "{v} {q}: {stdout}");
            if v != "v3" && empty > 0 {
                assert!(stdout.contains(&format!("({empty} images without objects dropped")), "{stdout}");
            }
            assert!(stdout.contains(&format!("relative to {}", root.join("images").display())), "{stdout}");
            for r in &recs {
                let file = r["file_name"].as_str().unwrap();
                let stem = file.strip_suffix(".png").unwrap();
                // Ids count every image in file order, dropped ones too.
                assert_eq!(r["id"].as_u64().unwrap() as usize, names.iter().position(|n| *n == stem).unwrap() + 1);
                let case = mine.iter().find(|c| c["name"] == stem).unwrap();
                assert_eq!((&r["width"], &r["height"]), (&case["width"], &case["height"]), "{file}");
                assert_eq!(r["response"], case[v], "{v} {q} {file}");
            }
            let files: Vec<&str> = recs.iter().map(|r| r["file_name"].as_str().unwrap()).collect();
            let mut sorted = files.clone();
            sorted.sort();
            assert_eq!(files, sorted);
        }
    }
    let v3 = records(&dir.join("f64_v3.json"));
    assert_eq!(v3.iter().find(|r| r["file_name"] == "empty.png").unwrap()["response"], "There are none.");
}

#[test]
fn coco_keeps_image_order_and_extra_keys_and_sorts_categories() {
    let (tmp, reg) = setup();
    let dir = tmp.path();
    for (integer, q) in [(true, "f32"), (false, "f64")] {
        // Reversed case order, categories in reverse with ids from 10: upstream's group order
        // comes from the sorted names alone.
        let mine: Vec<Value> = cases().into_iter().filter(|c| c["integer"] == integer).rev().collect();
        for (k, c) in mine.iter().enumerate() {
            let classes = c["classes"].as_array().unwrap();
            let categories: Vec<Value> = classes.iter().enumerate().rev().map(|(i, n)| json!({"id": 10 + i, "name": n})).collect();
            let anns: Vec<Value> = c["objects"].as_array().unwrap().iter().enumerate().map(|(j, o)| json!({
                "id": j, "image_id": 100 - k, "category_id": 10 + o["class"].as_u64().unwrap(),
                "segmentation": [o["poly"]], "bbox": [0, 0, 1, 1], "iscrowd": 0,
            })).collect();
            // Keys in an order that sorted maps would not keep.
            let image = format!(
                r#"{{"license": 3, "file_name": "{}.png", "id": {}, "width": {}, "height": {}, "coco_url": "é"}}"#,
                c["name"].as_str().unwrap(), 100 - k, c["width"], c["height"]
            );
            let text = format!(
                r#"{{"info": {{}}, "images": [{image}], "annotations": {}, "categories": {}}}"#,
                Value::from(anns),
                Value::from(categories)
            );
            let json_path = dir.join(format!("{q}_{k}.json"));
            std::fs::write(&json_path, text).unwrap();
            for v in ["v1", "v2", "v3"] {
                let out = dir.join(format!("{q}_{k}_{v}.out.json"));
                let args = ["--input", json_path.to_str().unwrap(), "--format", v, "--out", out.to_str().unwrap(), "--quantize", q];
                let stdout = ok(convert(dir, &reg, &args));
                let raw = std::fs::read_to_string(&out).unwrap();
                match c[v].as_str() {
                    None => {
                        assert_eq!(raw, "[]");
                        assert!(stdout.contains("(1 images without objects dropped"), "{stdout}");
                    }
                    Some(want) => {
                        // Python's json.dump of the entry with `response` appended, byte for byte.
                        let expected = format!(
                            r#"[{{"license": 3, "file_name": "{}.png", "id": {}, "width": {}, "height": {}, "coco_url": "\u00e9", "response": "{want}"}}]"#,
                            c["name"].as_str().unwrap(), 100 - k, c["width"], c["height"]
                        );
                        assert_eq!(raw, expected, "{}", c["name"]);
                    }
                }
            }
        }
    }
}

#[test]
fn coco_output_follows_the_images_list() {
    let (tmp, reg) = setup();
    let dir = tmp.path();
    let json = r#"{"images": [{"id": 7, "file_name": "b.png", "width": 100, "height": 100},
        {"id": 3, "file_name": "a.png", "width": 100, "height": 100},
        {"id": 5, "file_name": "c.png", "width": 100, "height": 100}],
      "categories": [{"id": 1, "name": "ship"}],
      "annotations": [{"image_id": 3, "category_id": 1, "segmentation": [[10, 10, 20, 10, 20, 20, 10, 20]]},
        {"image_id": 7, "category_id": 1, "segmentation": [[1.5, 1, 2, 1, 2, 2, 1, 2]]}]}"#;
    std::fs::write(dir.join("c.json"), json).unwrap();
    let stdout = ok(convert(dir, &reg, &["--input", "c.json", "--format", "v3", "--out", "out/sft.json"]));
    // One polygon holds a float: upstream divides that one in float64, the default.
    assert!(!stdout.contains("--quantize f32"), "{stdout}");
    let recs = records(&dir.join("out/sft.json"));
    let got: Vec<(&str, &str)> = recs.iter().map(|r| (r["file_name"].as_str().unwrap(), r["response"].as_str().unwrap())).collect();
    assert_eq!(
        got,
        [
            ("b.png", "ship<loc_15><loc_10><loc_10><loc_20><loc_20><loc_20><loc_20><loc_10>"),
            ("a.png", "ship<loc_100><loc_100><loc_100><loc_200><loc_200><loc_200><loc_200><loc_100>"),
            ("c.png", "There are none."),
        ]
    );
    // Integer coordinates only, no --quantize: the hint to take upstream's float32 path.
    std::fs::write(dir.join("c.json"), json.replace("1.5", "1")).unwrap();
    let stdout = ok(convert(dir, &reg, &["--input", "c.json", "--out", "out/sft.json"]));
    assert!(stdout.contains("pass --quantize f32 to match"), "{stdout}");
}

/// mmdet ignores `iscrowd` objects in evaluation and `train` leaves them out of its targets, so
/// the SFT JSON leaves them out too, from a COCO JSON (even as RLE, which upstream's converter
/// cannot read) and from a dataset plugin reading the same JSON.
#[test]
fn crowd_objects_are_left_out_of_the_responses() {
    let (tmp, reg) = setup();
    let dir = tmp.path();
    let json = r#"{"images": [{"id": 3, "file_name": "a.png", "width": 100, "height": 100},
        {"id": 5, "file_name": "c.png", "width": 100, "height": 100}],
      "categories": [{"id": 1, "name": "ship"}],
      "annotations": [
        {"id": 1, "image_id": 3, "category_id": 1, "bbox": [10, 10, 10, 10], "area": 100, "iscrowd": 0,
         "segmentation": [[10, 10, 20, 10, 20, 20, 10, 20]]},
        {"id": 2, "image_id": 3, "category_id": 1, "bbox": [50, 50, 30, 30], "area": 900, "iscrowd": 1,
         "segmentation": [[50, 50, 80, 50, 80, 80, 50, 80]]},
        {"id": 3, "image_id": 5, "category_id": 1, "bbox": [1, 1, 9, 9], "area": 81, "iscrowd": true,
         "segmentation": {"counts": [0, 5], "size": [100, 100]}}]}"#;
    std::fs::write(dir.join("c.json"), json).unwrap();
    // The response of the one non-crowd ship, as in coco_output_follows_the_images_list.
    let want = [("a.png", "ship<loc_100><loc_100><loc_100><loc_200><loc_200><loc_200><loc_200><loc_100>"), ("c.png", "There are none.")];
    let got = |out: &str| -> Vec<(String, String)> {
        records(&dir.join(out)).iter().map(|r| (r["file_name"].as_str().unwrap().into(), r["response"].as_str().unwrap().into())).collect()
    };
    let as_pairs = |w: &[(&str, &str)]| -> Vec<(String, String)> { w.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() };
    let stdout = ok(convert(dir, &reg, &["--input", "c.json", "--format", "v3", "--out", "coco.json"]));
    assert!(stdout.contains("2 crowd objects (iscrowd) left out"), "{stdout}");
    assert_eq!(got("coco.json"), as_pairs(&want));

    // The same JSON through the dota-folder plugin (mmdet's reader keeps crowd objects as ignored).
    write(&dir.join("ds/images/a.png"), &png_header(100, 100));
    write(&dir.join("ds/images/c.png"), &png_header(100, 100));
    write(&dir.join("ds/classes.txt"), b"ship\n");
    std::fs::copy(dir.join("c.json"), dir.join("ds/c.json")).unwrap();
    let with_ships = std::fs::read_to_string(&reg).unwrap()
        + "\n[[plugin]]\nkind = \"dataset\"\nname = \"ships\"\nlib = \"lmmrotate_dataset_dota\"\nentry = \"dota-folder\"\n\
           config = { annotations = \"c.json\" }\n";
    let reg_path = dir.join("registry2.toml");
    std::fs::write(&reg_path, with_ships).unwrap();
    let args = ["--dataset", "ships", "--dataset-root", "ds", "--format", "v3", "--out", "ds.json"];
    let stdout = ok(convert(dir, &reg_path, &args));
    assert!(stdout.contains("2 crowd objects (iscrowd) left out"), "{stdout}");
    assert_eq!(got("ds.json"), as_pairs(&want));
}

/// upstream.md §2.3 step 2: at W = 1024 float32 and float64 division disagree on exactly six
/// integer coordinates.
#[test]
fn quantize_f32_changes_the_six_documented_bins() {
    let (tmp, reg) = setup();
    let dir = tmp.path();
    // One point-like quad per integer 0..=1024, in increasing order (which both paths keep).
    let lines: String = (0..=1024).map(|v| format!("{v} {v} {v} {v} {v} {v} {v} {v} ship 0\n")).collect();
    write(&dir.join("patch/images/p.png"), &png_header(1024, 1024));
    write(&dir.join("patch/annfiles/p.txt"), lines.as_bytes());
    let bins = |q: &str| -> Vec<u32> {
        let out = format!("{q}.json");
        ok(convert(dir, &reg, &["--input", "patch/annfiles", "--out", &out, "--quantize", q]));
        let r = records(&dir.join(&out))[0]["response"].as_str().unwrap().to_string();
        r.split("<loc_").skip(1).map(|t| t[..t.find('>').unwrap()].parse().unwrap()).collect()
    };
    let (f32b, f64b) = (bins("f32"), bins("f64"));
    assert_eq!(f32b.len(), 1025 * 8);
    let mut diff: Vec<(usize, u32, u32)> = (0..=1024).filter(|&v| f32b[8 * v] != f64b[8 * v]).map(|v| (v, f32b[8 * v], f64b[8 * v])).collect();
    diff.dedup();
    let want = [(128, 124, 125), (256, 249, 250), (384, 374, 375), (512, 499, 500), (768, 749, 750), (896, 874, 875)];
    assert_eq!(diff, want);
    assert_eq!(f32b.iter().zip(&f64b).filter(|(a, b)| a != b).count(), 6 * 8);
}

#[test]
fn errors_name_the_file_and_line() {
    let (tmp, reg) = setup();
    let dir = tmp.path();
    write(&dir.join("d/images/a.png"), &png_header(64, 64));
    write(&dir.join("d/annfiles/a.txt"), b"1 1 5 1 5 5 1 5 ship 0\n1 1 5 1 5 x 1 5 ship 0\n");
    let err = failed(convert(dir, &reg, &["--input", "d/annfiles", "--out", "o.json"]));
    assert!(err.contains("d/annfiles/a.txt:2: bad coordinate \"x\""), "{err}");
    // Images elsewhere: linked into shape in a temp folder, and still the user's paths in messages.
    std::fs::rename(dir.join("d/annfiles"), dir.join("labels")).unwrap();
    let err = failed(convert(dir, &reg, &["--input", "labels", "--images", "d/images", "--out", "o.json"]));
    assert!(err.contains("labels/a.txt:2: bad coordinate"), "{err}");
    write(&dir.join("labels/a.txt"), b"1 1 5 1 5 5 1 5 ship 0\n");
    ok(convert(dir, &reg, &["--input", "labels", "--images", "d/images", "--out", "o.json"]));
    assert_eq!(records(&dir.join("o.json"))[0]["file_name"], "a.png");

    std::fs::write(dir.join("bad.json"), "{\"images\": [],\n \"categories\": [],\n \"annotations\": [,]}").unwrap();
    let err = failed(convert(dir, &reg, &["--input", "bad.json", "--out", "o.json"]));
    assert!(err.contains("bad.json:3:"), "{err}");
    std::fs::write(
        dir.join("cat.json"),
        r#"{"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}], "categories": [],
            "annotations": [{"id": 9, "image_id": 1, "category_id": 2, "segmentation": [[0,0,1,0,1,1,0,1]]}]}"#,
    )
    .unwrap();
    let err = failed(convert(dir, &reg, &["--input", "cat.json", "--out", "o.json"]));
    assert!(err.contains("cat.json: annotations[0] (id 9): category_id 2 is not in `categories`"), "{err}");
}

#[test]
fn token_statistics_through_the_model_tokenizer() {
    if !tk::has_libtorch() {
        return;
    }
    tk::build(&["lmmrotate-model-florence2-tch"]);
    let (tmp, reg) = setup();
    let dir = tmp.path();
    write(&dir.join("d/images/a.png"), &png_header(64, 64));
    write(&dir.join("d/images/b.png"), &png_header(64, 64));
    let many: String = (0..40).map(|i| format!("{i} 1 {i} 5 9 5 9 1 ship 0\n")).collect();
    write(&dir.join("d/annfiles/a.txt"), many.as_bytes());
    write(&dir.join("d/annfiles/b.txt"), b"");
    let out = ok(convert(dir, &reg, &["--input", "d/annfiles", "--format", "v3", "--out", "o.json", "--model", "florence2"]));
    let line = out.lines().find(|l| l.starts_with("tokens per response (florence2)")).expect(&out);
    let num = |k: &str| -> f64 { line.split(k).nth(1).unwrap().split([',', ' ']).find(|s| !s.is_empty()).unwrap().parse().unwrap() };
    // 40 boxes of 8 loc tokens with 39 <sep> dominate the long response; "There are none." is
    // short (a few tokens more with the test tokenizer's small BPE vocabulary).
    let (max, min, mean) = (num("max "), num("min "), num("mean "));
    assert!(max > 40.0 * 9.0 && min < 20.0 && (mean - (max + min) / 2.0).abs() < 0.1, "{line}");
    assert!(out.contains("over the model's 256 tokens: 1 of 2 (50.00%)"), "{out}");
}
