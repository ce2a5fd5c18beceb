//! The host handle given to plugins: their logs become `tracing` events, their progress reports
//! become progress bars, and they can see a cancellation request (Ctrl-C).

use abi_stable::{sabi_trait::TD_Opaque, std_types::{RArc, RStr}};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lmmrotate_abi::{host::Host_TO, Host, HostBox, LogLevel};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

static CANCELLED: AtomicBool = AtomicBool::new(false);

/// Asks every running plugin to stop at its next check.
pub fn request_cancel() {
    CANCELLED.store(true, Ordering::SeqCst);
}

pub fn cancel_requested() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

#[derive(Clone)]
pub struct TerminalHost {
    plugin: Arc<str>,
    bars: Arc<Mutex<HashMap<String, ProgressBar>>>,
    multi: MultiProgress,
}

impl TerminalHost {
    /// A host for the plugin named `plugin`; `show_progress` false hides bars (quiet, or not a TTY).
    pub fn new(plugin: &str, show_progress: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Self { plugin: plugin.into(), bars: Default::default(), multi, }
    }

    /// The same host, reporting under another plugin name.
    pub fn for_plugin(&self, plugin: &str) -> Self {
        Self { plugin: plugin.into(), bars: Default::default(), multi: self.multi.clone() }
    }

    pub fn boxed(&self) -> HostBox {
        Host_TO::from_ptr(RArc::new(self.clone()), TD_Opaque)
    }

    /// A progress bar drawn with the others (for the host's own loops).
    pub fn bar(&self, label: &str, total: u64) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar
    }
}

impl Host for TerminalHost {
    fn log(&self, level: LogLevel, message: RStr<'_>) {
        let plugin = &*self.plugin;
        let msg = message.as_str();
        self.multi.suspend(|| match level {
            LogLevel::Error => tracing::error!(plugin, "{msg}"),
            LogLevel::Warn => tracing::warn!(plugin, "{msg}"),
            LogLevel::Info => tracing::info!(plugin, "{msg}"),
            LogLevel::Debug => tracing::debug!(plugin, "{msg}"),
            LogLevel::Trace => tracing::trace!(plugin, "{msg}"),
        });
    }

    fn progress(&self, label: RStr<'_>, done: u64, total: u64) {
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = bars.entry(label.to_string()).or_insert_with(|| self.bar(label.as_str(), total));
        if total > 0 && bar.length() != Some(total) {
            bar.set_length(total);
        }
        bar.set_position(done);
        if total > 0 && done >= total {
            bar.finish_and_clear();
            bars.remove(label.as_str());
        }
    }

    fn cancelled(&self) -> bool {
        cancel_requested()
    }
}
