//! `lmmrotate plugins`: what the registry lists, and whether each entry loads.

use crate::{exit::Outcome, Global};
use anyhow::Result;
use lmmrotate_abi::PluginKind;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print JSON Lines (one object per plugin) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, args: &Args) -> Result<Outcome> {
    let plugins = super::open_plugins(g)?;
    let reg = &plugins.registry;
    let mut rows = Vec::new();
    let mut failed = 0;
    for spec in &reg.plugins {
        let path = reg.library_path(spec);
        let (version, abi, backend, status, detail) = match plugins.library(spec) {
            Ok(lib) => {
                let mut detail = String::new();
                // A model's config may point at weights that are absent here; loading the library
                // (version, ABI and layout checks) is what "loads" means in this listing.
                if spec.kind == PluginKind::Model {
                    detail = lib.info.backend.to_string();
                }
                (lib.info.version.to_string(), lib.info.abi_version.to_string(), lib.info.backend.to_string(), "ok".to_string(), detail)
            }
            Err(e) => {
                failed += 1;
                ("-".into(), "-".into(), "-".into(), "FAILED".into(), e.to_string())
            }
        };
        rows.push(serde_json::json!({
            "kind": spec.kind.as_str(), "name": spec.name, "entry": spec.entry, "library": path.display().to_string(),
            "version": version, "abi": abi, "backend": backend, "status": status, "detail": detail,
            "description": spec.description, "registry_line": spec.line,
        }));
    }

    if args.json {
        for r in &rows {
            println!("{r}");
        }
    } else {
        println!("registry: {} (ABI {}, plugins in {})", reg.path.display(), reg.abi_text, reg.plugin_dir.display());
        println!("{:<8} {:<14} {:<9} {:<6} {:<7} {:<34} {}", "KIND", "NAME", "VERSION", "ABI", "STATUS", "BACKEND", "LIBRARY");
        for r in &rows {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            println!(
                "{:<8} {:<14} {:<9} {:<6} {:<7} {:<34} {}",
                s("kind"), s("name"), s("version"), s("abi"), s("status"), s("backend"), s("library")
            );
            if s("status") != "ok" {
                println!("    {}", s("detail").replace('\n', "\n    "));
            }
        }
        if rows.is_empty() {
            println!("(no plugins registered)");
        }
    }
    Ok(if failed > 0 { Outcome::Partial } else { Outcome::Done })
}
