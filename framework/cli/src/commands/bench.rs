//! `lmmrotate bench`: speed of a model plugin (training steps, generation) and of the metrics,
//! as a table and JSON. Numbers, never thresholds: results go to docs/BENCHMARKS.md.

use crate::{exit::Outcome, Global};
use anyhow::Result;
use lmmrotate_core::bench::{bench_generate, bench_train, BenchConfig};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `train` (forward + backward + optimizer update) or `generate`.
    #[arg(value_parser = ["train", "generate"])]
    what: String,
    #[command(flatten)]
    model: super::model_args::ModelArgs,
    /// Images per step / per generate call.
    #[arg(long, default_value_t = 2)]
    batch: usize,
    /// Target length in tokens (train).
    #[arg(long, default_value_t = 256)]
    target_tokens: u32,
    /// Beams (generate).
    #[arg(long, default_value_t = 3)]
    beams: u32,
    /// Tokens generated per image, forced (generate).
    #[arg(long, default_value_t = 256)]
    new_tokens: u32,
    /// Measured repetitions (the median is reported).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Unmeasured repetitions first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Task prompt given with the images.
    #[arg(long, default_value = "<ROD>")]
    task: String,
    /// Training options of the model plugin, as JSON (train), e.g.
    /// '{"gradient_checkpointing": true}'.
    #[arg(long, value_name = "JSON", default_value = "{}", value_parser = super::json_object)]
    train_options: serde_json::Map<String, serde_json::Value>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The process's peak resident memory (VmHWM) in GiB: host memory, the measure on CPU.
fn host_peak_gib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / (1024.0 * 1024.0))
}

pub fn run(g: &Global, a: &Args) -> Result<Outcome> {
    let plugins = super::open_plugins(g)?;
    // Sampling starts before the model exists, so that its own use is `peak - before` (the
    // driver's view of the whole device; nothing without a CUDA driver).
    let sampler = lmmrotate_core::devmem::MemorySampler::start(0);
    let mut model = plugins.model(&a.model.model, &a.model.overrides(None, serde_json::Map::new())?)?;
    let info = model.info()?;
    let cfg = BenchConfig { batch: a.batch, steps: a.steps, warmup: a.warmup, seed: 7 };
    let head = serde_json::json!({
        "model": a.model.model, "device": info.device.as_str(), "backend": info.backend.as_str(),
        "parameters": info.parameters, "image_size": info.image.width, "batch": a.batch,
    });
    let train_options = serde_json::Value::Object(a.train_options.clone());
    let (result, line) = if a.what == "train" {
        let r = bench_train(&mut model, &cfg, a.target_tokens, &a.task, &train_options)?;
        let line = format!(
            "train {} @{} px, batch {}, {} target tokens: {:.1} ms/step (p10 {:.1}, p90 {:.1}), {:.2} samples/s",
            a.model.model, info.image.width, a.batch, r.target_tokens, r.step.median_ms, r.step.p10_ms, r.step.p90_ms, r.samples_per_second
        );
        (serde_json::to_value(&r)?, line)
    } else {
        let r = bench_generate(&mut model, &cfg, a.beams, a.new_tokens, &a.task)?;
        let line = format!(
            "generate {} @{} px, batch {} x {} beams, {} tokens: {:.1} ms/call, {:.2} ms/token, {:.2} images/s",
            a.model.model, info.image.width, a.batch, a.beams, r.tokens, r.call.median_ms, r.ms_per_token, r.images_per_second
        );
        (serde_json::to_value(&r)?, line)
    };
    let on_gpu = info.device.to_ascii_lowercase().contains("cuda");
    let memory = sampler.and_then(|s| s.finish()).filter(|_| on_gpu);
    if a.json {
        let mut all = head;
        all["what"] = a.what.clone().into();
        all["result"] = result;
        all["device_memory"] = serde_json::to_value(memory)?;
        all["host_peak_gib"] = serde_json::to_value(host_peak_gib())?;
        all["train_options"] = train_options;
        println!("{all}");
    } else {
        let mut mem = memory.map_or(String::new(), |m| format!(", device memory {:.2} GiB at peak", m.peak_gib - m.before_gib));
        if let Some(h) = host_peak_gib() {
            mem += &format!(", host memory {h:.2} GiB at peak");
        }
        println!("{line}{mem}  [{} on {}, {} parameters]", info.backend, info.device, info.parameters);
    }
    Ok(Outcome::Done)
}
