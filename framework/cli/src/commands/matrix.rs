//! `lmmrotate matrix`: list, run and report the registry's eval matrix. Each cell runs as a child
//! `lmmrotate eval`, so that a plugin that panics, aborts or runs out of memory fails only its cell.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use lmmrotate_core::{
    eval::{self, EvalFiles},
    matrix::{self, Cell, CellResult, Filter, PluginVersion, ReportFiles, RunRecord, Status},
    Plugins,
};
use std::{
    collections::BTreeMap,
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

#[derive(clap::Subcommand, Debug)]
pub enum MatrixCommand {
    /// List the cells of the registry's [[matrix]] tables; cells a model cannot serve are shown
    /// as skipped, with the reason.
    List(ListArgs),
    /// Run every cell not yet finished (each as a child `lmmrotate eval`), then write the report.
    /// Exit code: 0 all ok, 1 some cells skipped, 2 some failed.
    Run(RunArgs),
    /// Write the report of a matrix folder again: results.jsonl, report.md, report.html.
    Report(ReportArgs),
}

#[derive(clap::Args, Debug)]
pub struct Select {
    /// Only cells matching every term: `model=NAME`, `dataset=NAME`, `format=NAME`, `split=NAME`,
    /// or a part of the cell name (`model.dataset.format[.split]`).
    #[arg(long, value_name = "TERM")]
    filter: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    select: Select,
    /// JSON Lines (one object per cell) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Matrix folder: cells/<cell>/ (each an `eval --out` folder), results.jsonl, report.md,
    /// report.html.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    select: Select,
    /// Passed to every cell's eval, over the table's `overrides`.
    #[arg(long = "clip_num", alias = "clip-num")]
    clip_num: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    num_beams: Option<u32>,
    #[arg(long)]
    max_new_tokens: Option<u32>,
    #[arg(long)]
    device: Option<String>,
    #[arg(long)]
    dtype: Option<String>,
    /// Where a dataset's files are for this run (`NAME=DIR`, repeatable), over the tables'
    /// `dataset_roots` and the dataset's registry config.
    #[arg(long = "dataset-root", value_name = "NAME=DIR")]
    dataset_root: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The matrix folder of `matrix run`.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    select: Select,
}

pub fn run(g: &Global, c: &MatrixCommand) -> Result<Outcome> {
    match c {
        MatrixCommand::List(a) => list(g, a),
        MatrixCommand::Run(a) => run_cells(g, a),
        MatrixCommand::Report(a) => report(g, a),
    }
}

/// Every cell of the registry, and those the filter picks.
fn select(plugins: &Plugins, s: &Select) -> Result<(Vec<Cell>, Vec<Cell>)> {
    let all = matrix::cells(&plugins.registry)?;
    let filter = Filter::parse(&s.filter)?;
    let picked: Vec<Cell> = all.iter().filter(|c| filter.matches(c)).cloned().collect();
    if picked.is_empty() {
        bail!(
            "no matrix cell {} in {} (see `lmmrotate matrix list`)",
            if s.filter.is_empty() { "is defined".to_string() } else { format!("matches --filter {}", s.filter.join(" ")) },
            plugins.registry.path.display()
        );
    }
    Ok((all, picked))
}

fn list(g: &Global, a: &ListArgs) -> Result<Outcome> {
    let plugins = super::open_plugins(g)?;
    let (_, cells) = select(&plugins, &a.select)?;
    for c in &cells {
        if a.json {
            let options: serde_json::Map<String, serde_json::Value> =
                c.option_args().into_iter().map(|(k, v)| (k, v.into())).collect();
            println!(
                "{}",
                serde_json::json!({
                    "cell": c.name(), "model": c.model, "dataset": c.dataset, "format": c.format, "split": c.split,
                    "checkpoint": c.checkpoint, "dataset_root": c.dataset_root, "options": options,
                    "skipped": c.skip, "registry_line": c.line,
                })
            );
        } else {
            let state = c.skip.as_ref().map_or_else(|| "run".to_string(), |r| format!("skipped: {r}"));
            let extra: Vec<String> = [("checkpoint", &c.checkpoint), ("root", &c.dataset_root)]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
                .collect();
            println!("{:<40} {state}{}", c.name(), if extra.is_empty() { String::new() } else { format!("  ({})", extra.join(", ")) });
        }
    }
    Ok(Outcome::Done)
}

/// Versions of every registered plugin by (kind, name), from a child `lmmrotate plugins --json`
/// (loading every library in this process would put the matrix at the mercy of each one).
fn plugin_versions(exe: &Path, g: &Global, registry: &Path) -> BTreeMap<(String, String), PluginVersion> {
    let mut cmd = Command::new(exe);
    global_args(&mut cmd, g, registry);
    let out = match cmd.args(["plugins", "--json"]).stdin(Stdio::null()).stderr(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!("cannot run `{} plugins --json` for the plugin versions: {e}", exe.display());
            return BTreeMap::new();
        }
    };
    // Exit code 1 only says that some library did not load; the lines of the others hold.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
            ((s("kind"), s("name")), PluginVersion { name: s("name"), version: s("version"), backend: s("backend") })
        })
        .collect()
}

fn global_args(cmd: &mut Command, g: &Global, registry: &Path) {
    cmd.arg("--registry").arg(registry);
    if let Some(d) = &g.plugin_dir {
        cmd.arg("--plugin-dir").arg(d);
    }
}

/// The child's arguments after the binary: `eval` with the cell's plugins, folder and options
/// (the table's, then those of this command line over them).
fn eval_args(cell: &Cell, out: &Path, a: &RunArgs) -> Vec<String> {
    let mut args: Vec<String> = ["eval", "--model", &cell.model, "--dataset", &cell.dataset, "--format", &cell.format]
        .map(String::from)
        .to_vec();
    for (flag, value) in [("--split", &cell.split), ("--checkpoint", &cell.checkpoint), ("--dataset-root", &cell.dataset_root)] {
        if let Some(v) = value {
            args.extend([flag.to_string(), v.clone()]);
        }
    }
    args.extend(["--out".to_string(), cell.dir(out).display().to_string()]);
    let mut options = cell.option_args();
    for (k, v) in [
        ("clip_num", a.clip_num.map(|x| x.to_string())),
        ("batch_size", a.batch_size.map(|x| x.to_string())),
        ("num_beams", a.num_beams.map(|x| x.to_string())),
        ("max_new_tokens", a.max_new_tokens.map(|x| x.to_string())),
        ("device", a.device.clone()),
        ("dtype", a.dtype.clone()),
    ] {
        if let Some(v) = v {
            options.insert(k.to_string(), v);
        }
    }
    for (k, v) in options {
        // Every matrix option is the eval option of the same name (`batch_size` → `--batch-size`).
        args.extend([format!("--{}", k.replace('_', "-")), v]);
    }
    args
}

/// The last lines the child wrote to its log after `from`.
fn log_tail(log: &Path, from: u64) -> String {
    const LINES: usize = 20;
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let _ = f.seek(SeekFrom::Start(from)).and_then(|_| f.read_to_string(&mut text));
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LINES)..].join("\n")
}

/// Runs one cell as a child process; its output goes to `eval.log` in the cell folder.
fn run_cell(exe: &Path, g: &Global, registry: &Path, cell: &Cell, a: &RunArgs, versions: &BTreeMap<String, PluginVersion>) -> Result<RunRecord> {
    let dir = cell.dir(&a.out);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let responses = EvalFiles::in_dir(&dir).responses;
    let before = eval::read_responses(&responses)?.len();
    let log_path = dir.join("eval.log");
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).with_context(|| format!("opening {}", log_path.display()))?;
    let args = eval_args(cell, &a.out, a);
    let mut cmd = Command::new(exe);
    global_args(&mut cmd, g, registry);
    cmd.args(&args);
    let command: Vec<String> = std::iter::once(exe.display().to_string())
        .chain(cmd.get_args().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    writeln!(log, "== lmmrotate matrix: {}", command.join(" ")).with_context(|| format!("writing {}", log_path.display()))?;
    // The error of this run is the tail of what the child writes after this point.
    let start = log.seek(SeekFrom::End(0))?;
    let t0 = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .status()
        .with_context(|| format!("starting {}", exe.display()))?;
    let wall_s = t0.elapsed().as_secs_f64();
    let after = eval::read_responses(&responses).map(|r| r.len()).unwrap_or(before);
    let finished = EvalFiles::in_dir(&dir).metrics_json.is_file();
    let error = match (status.success(), finished) {
        (true, true) => None,
        // `ExitStatus` prints "exit status: 2" or "signal: 6 (SIGABRT) (core dumped)".
        (false, _) => Some(format!("{status}\n{}", log_tail(&log_path, start))),
        (true, false) => Some(format!("eval exited 0 without writing metrics.json\n{}", log_tail(&log_path, start))),
    };
    Ok(RunRecord {
        status: if error.is_some() { Status::Failed } else { Status::Ok },
        error,
        wall_s,
        new_images: after.saturating_sub(before),
        finished_unix: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        command,
        lmmrotate_version: env!("CARGO_PKG_VERSION").to_string(),
        plugins: versions.clone(),
    })
}

fn run_cells(g: &Global, a: &RunArgs) -> Result<Outcome> {
    let plugins = super::open_plugins(g)?;
    let (all, mut cells) = select(&plugins, &a.select)?;
    for spec in &a.dataset_root {
        let Some((name, dir)) = spec.split_once('=') else { bail!("--dataset-root {spec}: expected NAME=DIR") };
        if !all.iter().any(|c| c.dataset == name) {
            bail!("--dataset-root {spec}: no matrix cell uses dataset `{name}`");
        }
        for c in cells.iter_mut().filter(|c| c.dataset == name) {
            c.dataset_root = Some(dir.to_string());
        }
    }
    let registry = plugins.registry.path.clone();
    let exe = std::env::current_exe().context("locating the lmmrotate binary")?;
    std::fs::create_dir_all(a.out.join("cells")).with_context(|| format!("creating {}", a.out.display()))?;
    let versions = plugin_versions(&exe, g, &registry);
    let n = cells.len();
    for (i, cell) in cells.iter().enumerate() {
        let tag = format!("[{}/{n}] {}", i + 1, cell.name());
        if let Some(reason) = &cell.skip {
            println!("{tag}: skipped: {reason}");
            continue;
        }
        if matrix::is_finished(cell, &a.out) {
            println!("{tag}: finished earlier");
            continue;
        }
        println!("{tag}: running");
        let mine: BTreeMap<String, PluginVersion> = [("model", "model", &cell.model), ("format", "format", &cell.format), ("dataset", "dataset", &cell.dataset)]
            .into_iter()
            .filter_map(|(role, kind, name)| versions.get(&(kind.to_string(), name.clone())).map(|v| (role.to_string(), v.clone())))
            .collect();
        let record = run_cell(&exe, g, &registry, cell, a, &mine)?;
        record.write(&cell.dir(&a.out))?;
        match &record.error {
            None => println!("{tag}: ok in {:.1} s", record.wall_s),
            Some(e) => println!(
                "{tag}: FAILED after {:.1} s: {}\n    log: {}",
                record.wall_s,
                e.lines().last().unwrap_or(""),
                cell.dir(&a.out).join("eval.log").display()
            ),
        }
        // After every cell, so that a matrix stopped half-way still has its report.
        matrix::write_report(&plugins, &all, &a.out)?;
    }
    let results = matrix::write_report(&plugins, &all, &a.out)?;
    finish(&results, &cells, &a.out)
}

fn report(g: &Global, a: &ReportArgs) -> Result<Outcome> {
    let plugins = super::open_plugins(g)?;
    let (all, cells) = select(&plugins, &a.select)?;
    if !a.out.is_dir() {
        bail!("{} is not a matrix folder (made by `lmmrotate matrix run --out DIR`)", a.out.display());
    }
    let results = matrix::write_report(&plugins, &all, &a.out)?;
    finish(&results, &cells, &a.out)
}

/// Prints the summary of the selected cells; exit 0 all ok, 1 some skipped, 2 some failed.
fn finish(results: &[CellResult], cells: &[Cell], out: &Path) -> Result<Outcome> {
    let names: Vec<String> = cells.iter().map(Cell::name).collect();
    let mine: Vec<&CellResult> = results.iter().filter(|r| names.contains(&r.cell)).collect();
    let count = |s: Status| mine.iter().filter(|r| r.status == s).count();
    let (ok, failed, skipped) = (count(Status::Ok), count(Status::Failed), count(Status::Skipped));
    let files = ReportFiles::in_dir(out);
    println!("\n{}", std::fs::read_to_string(&files.markdown).unwrap_or_default().lines().skip(2).take_while(|l| !l.is_empty()).collect::<Vec<_>>().join("\n"));
    println!(
        "\n{ok} ok, {failed} failed, {skipped} skipped, {} not run of {} cell(s)\nreport: {}  {}  {}",
        cells.len() - mine.len(),
        cells.len(),
        files.jsonl.display(),
        files.markdown.display(),
        files.html.display()
    );
    if failed > 0 {
        bail!("{failed} of {} cell(s) failed (errors in {})", cells.len(), files.jsonl.display());
    }
    Ok(if skipped > 0 || mine.len() < cells.len() { Outcome::Partial } else { Outcome::Done })
}
