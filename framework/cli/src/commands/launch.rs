//! `lmmrotate launch`: one process per GPU on this node, as torchrun starts them.
//!
//! Each rank is this binary with the given command and the variables torchrun sets (`RANK`,
//! `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`). The ranks run
//! in their own process group, so that a Ctrl-C reaches them once, through the launcher: the
//! first asks them to stop after the current step (and save), a second kills them. When a rank
//! fails the others are stopped and the launcher exits with the failed rank's code.

use crate::{exit::Outcome, Global};
use anyhow::{bail, Context, Result};
use std::{
    os::unix::process::CommandExt,
    process::{Child, Command},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

#[derive(clap::Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// Processes (GPUs) on this node.
    #[arg(long = "nproc-per-node", alias = "nproc_per_node", default_value_t = 1)]
    nproc_per_node: u32,
    /// Nodes in the run (start `launch` on each, with its --node-rank).
    #[arg(long, default_value_t = 1)]
    nnodes: u32,
    #[arg(long = "node-rank", alias = "node_rank", default_value_t = 0)]
    node_rank: u32,
    /// Address of the node of rank 0.
    #[arg(long = "master-addr", alias = "master_addr", default_value = "127.0.0.1")]
    master_addr: String,
    #[arg(long = "master-port", alias = "master_port", default_value_t = lmmrotate_dist::DEFAULT_PORT)]
    master_port: u16,
    /// The lmmrotate command each rank runs, after `--` (e.g. `-- train --model florence2 ...`).
    #[arg(required = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<String>,
}

static SIGNALS: AtomicU32 = AtomicU32::new(0);

pub fn run(g: &Global, a: &Args) -> Result<Outcome> {
    if a.nproc_per_node == 0 || a.nnodes == 0 || a.node_rank >= a.nnodes {
        bail!("--nproc-per-node and --nnodes must be at least 1, and --node-rank below --nnodes");
    }
    if a.command.first().is_some_and(|c| c == "launch") {
        bail!("`launch -- launch ...` would nest launchers");
    }
    let exe = std::env::current_exe().context("finding the lmmrotate binary")?;
    let world = a.nnodes * a.nproc_per_node;
    ctrlc::set_handler(|| {
        SIGNALS.fetch_add(1, Ordering::SeqCst);
    })
    .context("installing the signal handler")?;
    // Ranks share the node's cores: without a limit each would start a thread per core for
    // libtorch (OpenMP, which spins) and for image decoding (rayon), and starve the threads that
    // launch GPU work. torchrun limits OpenMP the same way.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = (cores / a.nproc_per_node as usize).max(1).to_string();
    let mut children: Vec<(u32, Child)> = Vec::new();
    for local in 0..a.nproc_per_node {
        let rank = a.node_rank * a.nproc_per_node + local;
        let mut cmd = Command::new(&exe);
        cmd.args(&a.command)
            .env("RANK", rank.to_string())
            .env("WORLD_SIZE", world.to_string())
            .env("LOCAL_RANK", local.to_string())
            .env("LOCAL_WORLD_SIZE", a.nproc_per_node.to_string())
            .env("MASTER_ADDR", &a.master_addr)
            .env("MASTER_PORT", a.master_port.to_string())
            .process_group(0);
        for var in ["OMP_NUM_THREADS", "RAYON_NUM_THREADS"] {
            if std::env::var_os(var).is_none() {
                cmd.env(var, &share);
            }
        }
        // Global options given to `launch` reach the ranks through their variables.
        if let Some(r) = &g.registry {
            cmd.env("LMMROTATE_REGISTRY", r);
        }
        if let Some(p) = &g.plugin_dir {
            cmd.env("LMMROTATE_PLUGIN_DIR", p);
        }
        match cmd.spawn() {
            Ok(c) => children.push((rank, c)),
            Err(e) => {
                stop(&mut children, libc::SIGKILL);
                bail!("starting rank {rank} ({}): {e}", exe.display());
            }
        }
    }
    eprintln!("launched ranks {}..{} of {world} ({})", a.node_rank * a.nproc_per_node, (a.node_rank + 1) * a.nproc_per_node - 1, a.command.join(" "));
    let mut forwarded = 0;
    let mut failure: Option<(u32, i32)> = None;
    while !children.is_empty() {
        let signals = SIGNALS.load(Ordering::SeqCst);
        if signals > forwarded {
            forwarded = signals;
            // The first signal asks for a clean stop; any further one kills.
            stop(&mut children, if signals == 1 { libc::SIGINT } else { libc::SIGKILL });
        }
        let mut i = 0;
        while i < children.len() {
            match children[i].1.try_wait() {
                Ok(Some(status)) => {
                    let (rank, _) = children.remove(i);
                    let code = status.code().unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(9));
                    if code != 0 && failure.is_none() {
                        // The others would wait for it in their next collective: end them now
                        // (their last checkpoint is safe; saves are atomic).
                        eprintln!("rank {rank} exited with code {code}; stopping the other ranks");
                        failure = Some((rank, code));
                        stop(&mut children, libc::SIGKILL);
                    }
                }
                Ok(None) => i += 1,
                Err(e) => bail!("waiting for rank {}: {e}", children[i].0),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match failure {
        Some((_, code)) => std::process::exit(code),
        None => Ok(Outcome::Done),
    }
}

fn stop(children: &mut [(u32, Child)], signal: i32) {
    for (_, c) in children.iter_mut() {
        // SAFETY: plain kill(2) on a child we started and have not reaped.
        unsafe {
            libc::kill(c.id() as i32, signal);
        }
    }
}
