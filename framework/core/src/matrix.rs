//! The eval matrix: the cells (model × dataset × format × split) of the registry's `[[matrix]]`
//! tables, what a run left in each cell's folder, and the results gathered from those folders.

mod html;
mod pictures;

pub use html::html;
pub use pictures::{sample_pictures, Picture};

use crate::{
    error::{CoreError, Result},
    eval::EvalFiles,
    plugins::Plugins,
    registry::Registry,
};
use lmmrotate_abi::PluginKind;
use serde::{de, Deserialize, Deserializer, Serialize};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

/// The eval options a `[[matrix]]` table may set in `overrides` (the `lmmrotate eval` options of
/// the same names).
pub const CELL_OPTIONS: &[&str] = &[
    "clip_num",
    "shuffle_seed",
    "batch_size",
    "num_beams",
    "max_new_tokens",
    "no_repeat_ngram_size",
    "tie_samples",
    "device",
    "dtype",
    "model_config",
];

/// Checks one `overrides` entry: a known key with a value of the right type.
pub fn check_option(key: &str, value: &toml::Value) -> std::result::Result<(), String> {
    let (ok, wanted) = match key {
        "device" | "dtype" => (value.is_str(), "a string"),
        "model_config" => (value.is_table(), "a table"),
        k if CELL_OPTIONS.contains(&k) => (value.as_integer().is_some_and(|i| i >= 0), "a whole number (>= 0)"),
        _ => return Err(format!("unknown option `{key}` (options: {})", CELL_OPTIONS.join(", "))),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{key}` must be {wanted}, not {value}"))
    }
}

/// An option value as it goes on the `eval` command line (tables as JSON).
fn option_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Table(_) => serde_json::to_string(value).expect("a TOML table is JSON"),
        other => other.to_string(),
    }
}

/// One evaluation: a model on a dataset split, answering in a format.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub model: String,
    pub dataset: String,
    pub format: String,
    /// `None`: the dataset plugin's default split.
    pub split: Option<String>,
    pub checkpoint: Option<String>,
    pub dataset_root: Option<String>,
    /// The table's `overrides`.
    pub options: BTreeMap<String, toml::Value>,
    /// Why the cell cannot run, when it cannot.
    pub skip: Option<String>,
    /// Line of the `[[matrix]]` table the cell comes from.
    pub line: usize,
}

impl Cell {
    /// `model.dataset.format[.split]`, also the name of the cell's folder.
    pub fn name(&self) -> String {
        let mut parts = vec![self.model.as_str(), self.dataset.as_str(), self.format.as_str()];
        parts.extend(self.split.as_deref());
        // Names are free text in the registry; a folder name must not climb or nest.
        parts
            .iter()
            .map(|p| p.chars().map(|c| if c.is_ascii_alphanumeric() || "-_+".contains(c) { c } else { '_' }).collect::<String>())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `OUT/cells/<name>`: the cell's `eval --out` folder.
    pub fn dir(&self, out: &Path) -> PathBuf {
        out.join("cells").join(self.name())
    }

    /// The dataset plugin's config for this cell (root and split), as `eval` builds it.
    pub fn dataset_config(&self) -> serde_json::Value {
        let mut c = serde_json::json!({});
        if let Some(r) = &self.dataset_root {
            c["root"] = r.clone().into();
        }
        if let Some(s) = &self.split {
            c["split"] = s.clone().into();
        }
        c
    }

    /// The table's eval options as command-line text, by option name.
    pub fn option_args(&self) -> BTreeMap<String, String> {
        self.options.iter().map(|(k, v)| (k.clone(), option_text(v))).collect()
    }
}

/// Every cell of every `[[matrix]]` table, in table order (models, then datasets, formats,
/// splits). A cell whose model does not declare the format is kept, marked skipped. The same
/// cell in two tables is an error: both would write one folder.
pub fn cells(reg: &Registry) -> Result<Vec<Cell>> {
    let mut out: Vec<Cell> = Vec::new();
    for table in &reg.matrix {
        let splits: Vec<Option<String>> =
            if table.splits.is_empty() { vec![None] } else { table.splits.iter().cloned().map(Some).collect() };
        for model in &table.models {
            let emits = &reg.find(PluginKind::Model, model)?.formats;
            for dataset in &table.datasets {
                for format in &table.formats {
                    for split in &splits {
                        let skip = (!emits.is_empty() && !emits.contains(format)).then(|| {
                            format!("model `{model}` does not emit format `{format}` (it emits: {})", emits.join(", "))
                        });
                        let cell = Cell {
                            model: model.clone(),
                            dataset: dataset.clone(),
                            format: format.clone(),
                            split: split.clone(),
                            checkpoint: table.checkpoints.get(model).cloned(),
                            dataset_root: table.dataset_roots.get(dataset).cloned(),
                            options: table.overrides.clone(),
                            skip,
                            line: table.line,
                        };
                        if let Some(first) = out.iter().find(|c| c.name() == cell.name()) {
                            return Err(CoreError::Registry {
                                path: reg.path.clone(),
                                message: format!(
                                    "line {}: [[matrix]] cell `{}` is also in the table at line {} (to compare two checkpoints, register the model twice under two names)",
                                    table.line,
                                    cell.name(),
                                    first.line
                                ),
                            });
                        }
                        out.push(cell);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `--filter` terms: `model=NAME`, `dataset=NAME`, `format=NAME`, `split=NAME` match exactly,
/// anything else is a part of the cell name. A cell is picked when every term matches.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    terms: Vec<(Option<String>, String)>,
}

impl Filter {
    pub fn parse(terms: &[String]) -> Result<Self> {
        let mut out = Vec::new();
        for t in terms {
            match t.split_once('=') {
                Some((k, v)) if ["model", "dataset", "format", "split"].contains(&k) => out.push((Some(k.to_string()), v.to_string())),
                Some((k, _)) => {
                    return Err(CoreError::Invalid(format!("--filter {t}: unknown key `{k}` (keys: model, dataset, format, split)")))
                }
                None => out.push((None, t.clone())),
            }
        }
        Ok(Self { terms: out })
    }

    pub fn matches(&self, c: &Cell) -> bool {
        self.terms.iter().all(|(k, v)| match k.as_deref() {
            Some("model") => &c.model == v,
            Some("dataset") => &c.dataset == v,
            Some("format") => &c.format == v,
            Some(_) => c.split.as_ref() == Some(v),
            None => c.name().contains(v.as_str()),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

/// A plugin's version as `lmmrotate plugins --json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginVersion {
    pub name: String,
    pub version: String,
    pub backend: String,
}

/// `cells/<name>/run.json`: what the last run of a cell did. `metrics.json` beside it is what
/// makes a cell finished; this record adds the timing, the error and the versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub status: Status,
    pub error: Option<String>,
    /// Wall time of the child process, model loading included.
    pub wall_s: f64,
    /// Responses written by this run (fewer than the split when it resumed).
    pub new_images: usize,
    pub finished_unix: u64,
    /// The child's command line, to reproduce the cell by hand.
    pub command: Vec<String>,
    pub lmmrotate_version: String,
    /// By role: `model`, `format`, `dataset`.
    pub plugins: BTreeMap<String, PluginVersion>,
}

const RUN_RECORD: &str = "run.json";

impl RunRecord {
    pub fn write(&self, cell_dir: &Path) -> Result<()> {
        write_atomic(&cell_dir.join(RUN_RECORD), &serde_json::to_string_pretty(self).expect("serialises"))
    }

    pub fn read(cell_dir: &Path) -> Result<Option<Self>> {
        let path = cell_dir.join(RUN_RECORD);
        let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|e| CoreError::Invalid(format!("{}: {e}", path.display())))
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| CoreError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CoreError::io(path, e))
}

/// One class of a finished cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassAp {
    pub class: String,
    pub gts: usize,
    pub dets: usize,
    pub ap_nc_11points: f64,
    pub ap_nc_area: f64,
}

/// One line of `results.jsonl`. Every key is always present (null where it does not apply),
/// so that the lines load as one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub cell: String,
    pub model: String,
    pub dataset: String,
    pub format: String,
    pub split: Option<String>,
    pub checkpoint: Option<String>,
    pub status: Status,
    /// Why a skipped cell was skipped.
    pub reason: Option<String>,
    /// What a failed cell printed last (the tail of its `eval.log`).
    pub error: Option<String>,
    pub map_nc_11points: Option<f64>,
    pub map_nc_area: Option<f64>,
    pub mf1: Option<f64>,
    pub mf1_no_background: Option<f64>,
    pub images: Option<usize>,
    /// In class order.
    pub per_class: Vec<ClassAp>,
    pub images_per_s: Option<f64>,
    pub wall_s: Option<f64>,
    pub lmmrotate_version: Option<String>,
    pub plugins: BTreeMap<String, PluginVersion>,
    pub command: Vec<String>,
}

/// The part of `metrics.json` the report shows.
#[derive(Deserialize)]
struct Metrics {
    map_nc_11points: f64,
    map_nc_area: f64,
    mf1: f64,
    mf1_no_background: f64,
    images: usize,
    per_class: ClassRows,
}

/// `per_class` is an object keyed by class name in class order; a map type would sort it.
struct ClassRows(Vec<ClassAp>);

impl<'de> Deserialize<'de> for ClassRows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Row {
            gts: usize,
            dets: usize,
            ap_nc_11points: f64,
            ap_nc_area: f64,
        }
        struct Rows;
        impl<'de> de::Visitor<'de> for Rows {
            type Value = ClassRows;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of per-class rows")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<ClassRows, A::Error> {
                let mut rows = Vec::new();
                while let Some((class, r)) = m.next_entry::<String, Row>()? {
                    rows.push(ClassAp { class, gts: r.gts, dets: r.dets, ap_nc_11points: r.ap_nc_11points, ap_nc_area: r.ap_nc_area });
                }
                Ok(ClassRows(rows))
            }
        }
        d.deserialize_map(Rows)
    }
}

/// Whether the cell's eval has written its metrics (a finished cell is not run again).
pub fn is_finished(cell: &Cell, out: &Path) -> bool {
    EvalFiles::in_dir(&cell.dir(out)).metrics_json.is_file()
}

/// The results of `cells` as their folders under `out` hold them: skipped cells, finished ones
/// (metrics.json), failed ones (run.json); cells never attempted are left out.
pub fn collect(cells: &[Cell], out: &Path) -> Result<Vec<CellResult>> {
    let mut results = Vec::new();
    for c in cells {
        let mut r = CellResult {
            cell: c.name(),
            model: c.model.clone(),
            dataset: c.dataset.clone(),
            format: c.format.clone(),
            split: c.split.clone(),
            checkpoint: c.checkpoint.clone(),
            status: Status::Skipped,
            reason: c.skip.clone(),
            error: None,
            map_nc_11points: None,
            map_nc_area: None,
            mf1: None,
            mf1_no_background: None,
            images: None,
            per_class: Vec::new(),
            images_per_s: None,
            wall_s: None,
            lmmrotate_version: None,
            plugins: BTreeMap::new(),
            command: Vec::new(),
        };
        if c.skip.is_some() {
            results.push(r);
            continue;
        }
        let dir = c.dir(out);
        let record = RunRecord::read(&dir)?;
        let metrics_path = EvalFiles::in_dir(&dir).metrics_json;
        if let Some(rec) = &record {
            r.wall_s = Some(rec.wall_s);
            r.images_per_s = (rec.new_images > 0 && rec.wall_s > 0.0).then(|| rec.new_images as f64 / rec.wall_s);
            r.lmmrotate_version = Some(rec.lmmrotate_version.clone());
            r.plugins = rec.plugins.clone();
            r.command = rec.command.clone();
        }
        if metrics_path.is_file() {
            let parsed = std::fs::read_to_string(&metrics_path)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Metrics>(&t).map_err(|e| e.to_string()));
            match parsed {
                Ok(m) => {
                    r.status = Status::Ok;
                    r.map_nc_11points = Some(m.map_nc_11points);
                    r.map_nc_area = Some(m.map_nc_area);
                    r.mf1 = Some(m.mf1);
                    r.mf1_no_background = Some(m.mf1_no_background);
                    r.images = Some(m.images);
                    r.per_class = m.per_class.0;
                }
                Err(e) => {
                    r.status = Status::Failed;
                    r.error = Some(format!("{}: {e}", metrics_path.display()));
                }
            }
        } else if let Some(rec) = record.filter(|rec| rec.status == Status::Failed) {
            r.status = Status::Failed;
            r.error = rec.error;
        } else {
            continue;
        }
        results.push(r);
    }
    Ok(results)
}

/// The report files of a matrix folder.
pub struct ReportFiles {
    pub jsonl: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
}

impl ReportFiles {
    pub fn in_dir(out: &Path) -> Self {
        Self { jsonl: out.join("results.jsonl"), markdown: out.join("report.md"), html: out.join("report.html") }
    }
}

pub(crate) fn fixed(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

/// The last non-empty line of a message (where an error tail says what failed), cut to `max` characters (for table cells).
pub(crate) fn last_line(text: &str, max: usize) -> String {
    let line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() > max {
        format!("{}…", line.chars().take(max).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Versions of the cell's plugins as one short text (`florence2 0.1.0, v2 0.1.0, ...`).
pub(crate) fn versions(r: &CellResult) -> String {
    ["model", "format", "dataset"]
        .iter()
        .filter_map(|role| r.plugins.get(*role))
        .map(|p| format!("{} {}", p.name, p.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The results as Markdown: one summary table, then per dataset a class × cell table of
/// AP_nc (11 points).
pub fn markdown(results: &[CellResult]) -> String {
    let mut s = String::from("# Eval matrix\n\n");
    s += "| cell | status | mAP_nc (11p) | mAP_nc (area) | mF1 | images | images/s | wall (s) | checkpoint | versions | note |\n";
    s += "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |\n";
    for r in results {
        let note = r.reason.as_deref().or(r.error.as_deref()).map(|t| last_line(t, 120)).unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.cell,
            serde_json::to_value(r.status).expect("serialises").as_str().unwrap_or(""),
            fixed(r.map_nc_11points, 4),
            fixed(r.map_nc_area, 4),
            fixed(r.mf1, 4),
            r.images.map_or_else(|| "-".into(), |n| n.to_string()),
            fixed(r.images_per_s, 2),
            fixed(r.wall_s, 1),
            r.checkpoint.as_deref().unwrap_or("-"),
            versions(r),
            note.replace('|', "\\|"),
        );
    }
    let mut datasets: Vec<&str> = results.iter().filter(|r| r.status == Status::Ok).map(|r| r.dataset.as_str()).collect();
    datasets.sort();
    datasets.dedup();
    for d in datasets {
        let ok: Vec<&CellResult> = results.iter().filter(|r| r.status == Status::Ok && r.dataset == d).collect();
        let _ = writeln!(s, "\n## AP_nc (11 points) per class: {d}\n");
        let _ = writeln!(s, "| class | {} |", ok.iter().map(|r| r.cell.as_str()).collect::<Vec<_>>().join(" | "));
        let _ = writeln!(s, "| --- |{}", " ---: |".repeat(ok.len()));
        for (i, class) in ok[0].per_class.iter().enumerate() {
            let aps: Vec<String> = ok.iter().map(|r| fixed(r.per_class.get(i).map(|c| c.ap_nc_11points), 4)).collect();
            let _ = writeln!(s, "| {} | {} |", class.class, aps.join(" | "));
        }
    }
    s
}

/// Writes `results.jsonl`, `report.md` and `report.html` for `cells` under `out`, drawing the
/// sample pictures of finished cells that lack them. Pictures that cannot be drawn leave a
/// note in the page, not an error: the numbers matter more.
pub fn write_report(plugins: &Plugins, cells: &[Cell], out: &Path) -> Result<Vec<CellResult>> {
    let results = collect(cells, out)?;
    let files = ReportFiles::in_dir(out);
    let jsonl: String = results.iter().map(|r| serde_json::to_string(r).expect("serialises") + "\n").collect();
    write_atomic(&files.jsonl, &jsonl)?;
    write_atomic(&files.markdown, &markdown(&results))?;
    let mut pictures = BTreeMap::new();
    for r in results.iter().filter(|r| r.status == Status::Ok) {
        let cell = cells.iter().find(|c| c.name() == r.cell).expect("results come from cells");
        let drawn = sample_pictures(plugins, cell, &cell.dir(out)).map_err(|e| e.to_string());
        if let Err(e) = &drawn {
            tracing::warn!("{}: no sample pictures: {e}", r.cell);
        }
        pictures.insert(r.cell.clone(), drawn);
    }
    write_atomic(&files.html, &html(&results, &pictures))?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REG: &str = r#"
abi = "0.1"

[[plugin]]
kind = "format"
name = "v2"
lib = "f"

[[plugin]]
kind = "format"
name = "v3"
lib = "f"

[[plugin]]
kind = "format"
name = "allseeing"
lib = "a"

[[plugin]]
kind = "model"
name = "micro"
lib = "m"
formats = ["v2", "v3"]

[[plugin]]
kind = "model"
name = "any"
lib = "m"

[[plugin]]
kind = "dataset"
name = "syn"
lib = "d"

[[matrix]]
models = ["micro", "any"]
datasets = ["syn"]
formats = ["v2", "allseeing"]
splits = ["test"]
checkpoints = { micro = "runs/micro" }
dataset_roots = { syn = "data/syn" }
overrides = { clip_num = 3, model_config = { seed = 1 } }
"#;

    fn registry(text: &str) -> Registry {
        Registry::parse(text, Path::new("/r/registry.toml"), None).unwrap()
    }

    #[test]
    fn cells_cross_the_lists_and_skip_formats_a_model_does_not_emit() {
        let cells = cells(&registry(REG)).unwrap();
        let names: Vec<String> = cells.iter().map(Cell::name).collect();
        assert_eq!(names, ["micro.syn.v2.test", "micro.syn.allseeing.test", "any.syn.v2.test", "any.syn.allseeing.test"]);
        assert_eq!(cells[1].skip.as_deref(), Some("model `micro` does not emit format `allseeing` (it emits: v2, v3)"));
        // A model without a `formats` list takes any format.
        assert!(cells[0].skip.is_none() && cells[3].skip.is_none());
        assert_eq!(cells[0].checkpoint.as_deref(), Some("runs/micro"));
        assert_eq!(cells[2].checkpoint, None);
        assert_eq!(cells[0].dataset_config(), serde_json::json!({"root": "data/syn", "split": "test"}));
        let args = cells[0].option_args();
        assert_eq!((args["clip_num"].as_str(), args["model_config"].as_str()), ("3", r#"{"seed":1}"#));
        assert_eq!(cells[0].dir(Path::new("out")), Path::new("out/cells/micro.syn.v2.test"));
    }

    #[test]
    fn without_splits_a_cell_takes_the_default_split() {
        let cells = cells(&registry(&REG.replace("splits = [\"test\"]\n", ""))).unwrap();
        assert_eq!(cells[0].name(), "micro.syn.v2");
        assert_eq!(cells[0].dataset_config(), serde_json::json!({"root": "data/syn"}));
    }

    #[test]
    fn a_cell_in_two_tables_is_an_error_naming_both() {
        let text = format!("{REG}\n[[matrix]]\nmodels = [\"any\"]\ndatasets = [\"syn\"]\nformats = [\"v2\"]\nsplits = [\"test\"]\n");
        let e = cells(&registry(&text)).unwrap_err().to_string();
        assert!(e.starts_with("/r/registry.toml: line 44: [[matrix]] cell `any.syn.v2.test` is also in the table at line 35"), "{e}");
    }

    #[test]
    fn names_cannot_leave_the_cells_folder() {
        let mut c = cells(&registry(REG)).unwrap().remove(0);
        c.split = Some("../x/y".into());
        assert_eq!(c.name(), "micro.syn.v2.___x_y");
    }

    #[test]
    fn filter_terms() {
        let cells = cells(&registry(REG)).unwrap();
        let pick = |terms: &[&str]| {
            let f = Filter::parse(&terms.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            cells.iter().filter(|c| f.matches(c)).map(Cell::name).collect::<Vec<_>>()
        };
        assert_eq!(pick(&["model=any"]), ["any.syn.v2.test", "any.syn.allseeing.test"]);
        assert_eq!(pick(&["model=any", "format=v2"]), ["any.syn.v2.test"]);
        assert_eq!(pick(&["allseeing"]).len(), 2);
        assert_eq!(pick(&[]).len(), 4);
        let e = Filter::parse(&["modle=any".to_string()]).unwrap_err().to_string();
        assert_eq!(e, "--filter modle=any: unknown key `modle` (keys: model, dataset, format, split)");
    }

    #[test]
    fn options_are_checked() {
        assert!(check_option("clip_num", &toml::Value::Integer(5)).is_ok());
        assert!(check_option("device", &toml::Value::String("cpu".into())).is_ok());
        assert_eq!(check_option("clip_num", &toml::Value::Integer(-1)).unwrap_err(), "`clip_num` must be a whole number (>= 0), not -1");
        assert!(check_option("beams", &toml::Value::Integer(1)).unwrap_err().starts_with("unknown option `beams`"));
    }

    fn metrics_json() -> &'static str {
        // Classes deliberately out of alphabetical order: the report keeps the file's order.
        r#"{"map_nc_11points": 0.5, "map_nc_area": 0.25, "mf1": 0.4, "mean_precision": 0.1, "mf1_no_background": 0.3,
            "images": 6, "per_class": {"ship": {"gts": 2, "dets": 3, "recall": 1.0, "ap_nc_11points": 0.75, "ap_nc_area": 0.5},
                                       "plane": {"gts": 1, "dets": 0, "recall": 0.0, "ap_nc_11points": 0.25, "ap_nc_area": 0.0}}}"#
    }

    fn record(status: Status, error: Option<&str>) -> RunRecord {
        RunRecord {
            status,
            error: error.map(String::from),
            wall_s: 2.0,
            new_images: 6,
            finished_unix: 1,
            command: vec!["lmmrotate".into(), "eval".into()],
            lmmrotate_version: "0.1.0".into(),
            plugins: BTreeMap::from([("model".to_string(), PluginVersion { name: "micro".into(), version: "0.1.0".into(), backend: "tch".into() })]),
        }
    }

    #[test]
    fn collect_reads_finished_failed_and_skipped_cells_and_leaves_out_the_rest() {
        let cells = cells(&registry(REG)).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        let ok = cells[0].dir(out);
        std::fs::create_dir_all(&ok).unwrap();
        std::fs::write(ok.join("metrics.json"), metrics_json()).unwrap();
        record(Status::Ok, None).write(&ok).unwrap();
        let failed = cells[2].dir(out);
        std::fs::create_dir_all(&failed).unwrap();
        record(Status::Failed, Some("exit status 2: boom")).write(&failed).unwrap();
        assert!(is_finished(&cells[0], out) && !is_finished(&cells[2], out));

        let r = collect(&cells, out).unwrap();
        let got: Vec<(&str, Status)> = r.iter().map(|r| (r.cell.as_str(), r.status)).collect();
        assert_eq!(
            got,
            [("micro.syn.v2.test", Status::Ok), ("micro.syn.allseeing.test", Status::Skipped), ("any.syn.v2.test", Status::Failed)]
        );
        assert_eq!((r[0].map_nc_11points, r[0].images, r[0].images_per_s), (Some(0.5), Some(6), Some(3.0)));
        assert_eq!(r[0].per_class.iter().map(|c| c.class.as_str()).collect::<Vec<_>>(), ["ship", "plane"]);
        assert_eq!(r[2].error.as_deref(), Some("exit status 2: boom"));
        assert!(r[1].reason.as_deref().unwrap().contains("does not emit"));

        let line = serde_json::to_value(&r[1]).unwrap();
        assert_eq!(line["status"], "skipped");
        assert!(line.get("map_nc_11points").unwrap().is_null(), "every key present: {line}");

        let md = markdown(&r);
        assert!(md.contains("| micro.syn.v2.test | ok | 0.5000 | 0.2500 | 0.4000 | 6 | 3.00 | 2.0 | runs/micro | micro 0.1.0 |  |"), "{md}");
        assert!(md.contains("| any.syn.v2.test | failed |") && md.contains("exit status 2: boom"), "{md}");
        assert!(md.contains("## AP_nc (11 points) per class: syn") && md.contains("| ship | 0.7500 |"), "{md}");
    }

    #[test]
    fn a_corrupt_metrics_file_fails_the_cell_with_its_path() {
        let cells = cells(&registry(REG)).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = cells[0].dir(tmp.path());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("metrics.json"), "{").unwrap();
        let r = collect(&cells[..1], tmp.path()).unwrap();
        assert_eq!(r[0].status, Status::Failed);
        assert!(r[0].error.as_deref().unwrap().contains("metrics.json"), "{:?}", r[0].error);
    }
}
