//! `lmmrotate`: fine-tune multimodal language models for oriented object detection and evaluate
//! them as the LMMRotate paper does. Each subcommand lives in its own module under `commands/`.

mod commands;
mod exit;

use clap::Parser;
use std::path::PathBuf;

/// Fine-tune multimodal language models (Florence-2 first) to detect oriented objects in aerial
/// and SAR images, and evaluate them with mAP_nc and mF1 as LMMRotate does.
///
/// Models, response formats and datasets are plugins listed in registry.toml; `lmmrotate plugins`
/// shows what is registered and whether it loads.
#[derive(Parser, Debug)]
#[command(name = "lmmrotate", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: commands::Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// The plugin registry [default: ./registry.toml, else the one of this build's checkout].
    #[arg(long, global = true, env = "LMMROTATE_REGISTRY", value_name = "FILE")]
    pub registry: Option<PathBuf>,

    /// Folder of the plugin libraries, instead of the registry's `plugin_dir`.
    #[arg(long, global = true, env = "LMMROTATE_PLUGIN_DIR", value_name = "DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors; no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

fn init_logging(g: &Global, rank: u32) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => "error",
        // Ranks other than 0 of a data-parallel run only warn (rank 0 tells the story).
        (false, 0) if rank > 0 => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LMMROTATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn main() {
    let cli = Cli::parse();
    let dist = lmmrotate_dist::DistEnv::from_env();
    init_logging(&cli.global, dist.as_ref().ok().and_then(Option::as_ref).map_or(0, |d| d.rank));
    if let Ok(Some(d)) = &dist {
        // Before anything starts CUDA: this rank's GPU becomes its cuda:0.
        if let Some(v) = d.visible_device(std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref()) {
            std::env::set_var("CUDA_VISIBLE_DEVICES", v);
        }
    }
    if !matches!(cli.command, commands::Command::Launch(_)) {
        // First Ctrl-C / SIGTERM: stop after the current step (training saves a checkpoint);
        // a second one ends the process at once.
        let _ = ctrlc::set_handler(|| {
            if lmmrotate_core::host::cancel_requested() {
                std::process::exit(exit::INTERRUPTED);
            }
            eprintln!("\nstopping after the current step (Ctrl-C again to quit now)");
            lmmrotate_core::host::request_cancel();
        });
    }
    let code = match commands::run(&cli) {
        Ok(outcome) => outcome.code(),
        Err(err) => {
            eprintln!("error: {err:#}");
            exit::ERROR
        }
    };
    std::process::exit(code);
}
