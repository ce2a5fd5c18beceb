//! The subcommands and what they share: finding the registry and opening plugins.

mod bench;
mod data;
mod decode;
mod eval;
mod launch;
mod matrix;
mod metrics;
mod model_args;
mod plugins;
mod predict;
mod train;
mod vis;

use crate::{exit::Outcome, Cli, Global};
use anyhow::{Context, Result};
use lmmrotate_core::{Plugins, Registry, TerminalHost};
use std::{io::IsTerminal, path::PathBuf};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List registered plugins, their versions and backends, and whether they load.
    Plugins(plugins::Args),
    /// Decode a model response into detections (JSON) with a response format plugin.
    Decode(decode::Args),
    /// Evaluate predictions against DOTA annotations (mAP_nc, mAP, mF1) or write a Task1 submission.
    Metrics(metrics::Args),
    /// Detect oriented objects in images with a model: detections (JSON Lines) and drawn PNGs.
    Predict(predict::Args),
    /// Fine-tune a model on datasets or SFT JSON files (LMMRotate's recipe by default).
    Train(train::Args),
    /// Generate over a dataset split and score mAP_nc / mF1 (resumable).
    Eval(eval::Args),
    /// Speed of a model plugin: training steps or generation (median of repetitions).
    Bench(bench::Args),
    /// Draw labelled oriented boxes on images: ground truth, predictions, or both side by side.
    Vis(vis::Args),
    /// Prepare data: synthetic scenes, ...
    #[command(subcommand)]
    Data(data::DataCommand),
    /// The registry's eval matrix (model × dataset × format × split): list, run, report.
    #[command(subcommand)]
    Matrix(matrix::MatrixCommand),
    /// Run a command as several data-parallel ranks on this node (one per GPU), as torchrun does.
    Launch(launch::Args),
}

pub fn run(cli: &Cli) -> Result<Outcome> {
    match &cli.command {
        Command::Plugins(a) => plugins::run(&cli.global, a),
        Command::Decode(a) => decode::run(&cli.global, a),
        Command::Metrics(a) => metrics::run(&cli.global, a),
        Command::Predict(a) => predict::run(&cli.global, a),
        Command::Train(a) => train::run(&cli.global, a),
        Command::Eval(a) => eval::run(&cli.global, a),
        Command::Bench(a) => bench::run(&cli.global, a),
        Command::Vis(a) => vis::run(&cli.global, a),
        Command::Data(c) => data::run(&cli.global, c),
        Command::Matrix(c) => matrix::run(&cli.global, c),
        Command::Launch(a) => launch::run(&cli.global, a),
    }
}

/// The registry file: `--registry`/`LMMROTATE_REGISTRY`, else `./registry.toml`, else the
/// checkout this binary was built in (`<root>/target/<profile>/lmmrotate`).
fn registry_path(g: &Global) -> Result<PathBuf> {
    if let Some(p) = &g.registry {
        return Ok(p.clone());
    }
    let cwd = PathBuf::from("registry.toml");
    if cwd.exists() {
        return Ok(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(root) = exe.parent().and_then(|p| p.parent()).and_then(|p| p.parent()) {
            let candidate = root.join("registry.toml");
            if candidate.exists() {
                return Ok(candidate);
            }
        }
    }
    anyhow::bail!("no registry.toml in the current folder; pass --registry FILE or set LMMROTATE_REGISTRY")
}

/// `--classes LIST|FILE`: a file with one name per line if such a file exists, else a comma list.
pub fn class_names(arg: &str) -> Result<Vec<String>> {
    let path = std::path::Path::new(arg);
    Ok(if path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading classes from {}", path.display()))?;
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
    } else {
        arg.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect()
    })
}

/// `--classes LIST|FILE|DATASET`: as [`class_names`], and a single word that names a registered
/// dataset plugin gives that dataset's classes (the plugin is opened with its registry config).
pub fn class_names_or_dataset(g: &Global, arg: &str) -> Result<Vec<String>> {
    let word = !arg.contains(',') && !std::path::Path::new(arg).is_file();
    if word {
        if let Ok(reg) = open_registry(g) {
            if reg.find(lmmrotate_abi::PluginKind::Dataset, arg).is_ok() {
                let plugins = open_plugins(g)?;
                let ds = plugins.dataset(arg, &serde_json::json!({}))?;
                return Ok(ds.classes()?.names.iter().map(|s| s.to_string()).collect());
            }
        }
    }
    class_names(arg)
}

/// The data-parallel group this process belongs to, when it was started by `lmmrotate launch`,
/// torchrun or SLURM (returns once every rank has arrived).
/// A command-line value that must be a JSON object (`--model-config`, `--train-options`).
pub fn json_object(s: &str) -> std::result::Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

pub fn join_group() -> Result<Option<std::sync::Arc<lmmrotate_dist::ProcessGroup>>> {
    let Some(env) = lmmrotate_dist::DistEnv::from_env()? else { return Ok(None) };
    tracing::info!("rank {} of {}: meeting the other ranks at {}", env.rank, env.world_size, env.addr());
    Ok(Some(lmmrotate_dist::ProcessGroup::connect(&env)?))
}

pub fn open_registry(g: &Global) -> Result<Registry> {
    let path = registry_path(g)?;
    Registry::load(&path, g.plugin_dir.as_deref()).context("reading the plugin registry")
}

pub fn open_plugins(g: &Global) -> Result<Plugins> {
    let registry = open_registry(g)?;
    let show = !g.quiet && std::io::stderr().is_terminal();
    Ok(Plugins::new(registry, TerminalHost::new("lmmrotate", show)))
}
