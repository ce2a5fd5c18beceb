//! Typed handles over loaded plugin entries. Each call crosses the boundary and maps the
//! plugin's error into a [`CoreError::Plugin`] naming the plugin.

use crate::{
    error::{CoreError, Result},
    host::TerminalHost,
    loader::{self, Library},
    registry::{PluginSpec, Registry},
};
use abi_stable::std_types::{RResult, RSlice};
use lmmrotate_abi::{
    ClassTable, DatasetBox, Decoded, FormatBox, GenBatch, GenOptions, Generation, ImageMeta, ModelBox, ModelInfo,
    Object, PluginError, PluginKind, Prompt, Sample, StepControl, TrainBatch, TrainStats,
};
use std::sync::Arc;

/// The registry plus the host handle: opens entries by kind and name.
pub struct Plugins {
    pub registry: Registry,
    host: TerminalHost,
}

fn merge(base: &serde_json::Value, over: &serde_json::Value) -> serde_json::Value {
    let mut out = base.clone();
    if let (Some(o), Some(b)) = (out.as_object_mut(), over.as_object()) {
        for (k, v) in b {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

impl Plugins {
    pub fn new(registry: Registry, host: TerminalHost) -> Self {
        Self { registry, host }
    }

    pub fn host(&self) -> &TerminalHost {
        &self.host
    }

    /// Loads the library of `spec` and checks that it has the entry.
    pub fn library(&self, spec: &PluginSpec) -> Result<Arc<Library>> {
        let path = self.registry.library_path(spec);
        let lib = loader::load(&path, &self.registry.abi)?;
        if !lib.entries.iter().any(|e| e.kind == spec.kind && e.name.as_str() == spec.entry) {
            let has: Vec<String> =
                lib.entries.iter().map(|e| format!("{} {}", e.kind.as_str(), e.name)).collect();
            return Err(CoreError::Load {
                path,
                message: format!(
                    "has no {} entry `{}` (registry.toml line {}; the library offers: {})",
                    spec.kind.as_str(),
                    spec.entry,
                    spec.line,
                    if has.is_empty() { "nothing".into() } else { has.join(", ") }
                ),
            });
        }
        Ok(lib)
    }

    fn open<T>(
        &self,
        kind: PluginKind,
        name: &str,
        overrides: &serde_json::Value,
        ctor: impl FnOnce(&Library, &str, &str, lmmrotate_abi::HostBox) -> RResult<T, PluginError>,
    ) -> Result<T> {
        let spec = self.registry.find(kind, name)?;
        let lib = self.library(spec)?;
        let config = merge(&spec.config, overrides).to_string();
        let host = self.host.for_plugin(name).boxed();
        ctor(&lib, &spec.entry, &config, host)
            .into_result()
            .map_err(|error| CoreError::Plugin { kind, name: name.to_string(), error })
    }

    pub fn model(&self, name: &str, overrides: &serde_json::Value) -> Result<Model> {
        let inner = self.open(PluginKind::Model, name, overrides, |lib, e, c, h| {
            (lib.root.new_model())(e.into(), c.into(), h)
        })?;
        Ok(Model { name: name.to_string(), inner })
    }

    pub fn format(&self, name: &str, overrides: &serde_json::Value) -> Result<Format> {
        let inner = self.open(PluginKind::Format, name, overrides, |lib, e, c, h| {
            (lib.root.new_format())(e.into(), c.into(), h)
        })?;
        Ok(Format { name: name.to_string(), inner })
    }

    pub fn dataset(&self, name: &str, overrides: &serde_json::Value) -> Result<Dataset> {
        let inner = self.open(PluginKind::Dataset, name, overrides, |lib, e, c, h| {
            (lib.root.new_dataset())(e.into(), c.into(), h)
        })?;
        Ok(Dataset { name: name.to_string(), inner })
    }
}

fn wrap<T>(kind: PluginKind, name: &str, r: RResult<T, PluginError>) -> Result<T> {
    r.into_result().map_err(|error| CoreError::Plugin { kind, name: name.to_string(), error })
}

pub struct Model {
    pub name: String,
    inner: ModelBox,
}

impl Model {
    fn w<T>(&self, r: RResult<T, PluginError>) -> Result<T> {
        wrap(PluginKind::Model, &self.name, r)
    }
    pub fn info(&self) -> Result<ModelInfo> {
        self.w(self.inner.info())
    }
    pub fn set_training(&mut self, training: bool) -> Result<()> {
        let r = self.inner.set_training(training);
        self.w(r)
    }
    pub fn configure_training(&mut self, options: &serde_json::Value) -> Result<()> {
        let text = options.to_string();
        let r = self.inner.configure_training(text.as_str().into());
        self.w(r)
    }
    pub fn train_step(&mut self, batch: &TrainBatch, control: StepControl) -> Result<TrainStats> {
        let r = self.inner.train_step(batch, control);
        self.w(r)
    }
    pub fn generate(&mut self, batch: &GenBatch, options: &GenOptions) -> Result<Vec<Generation>> {
        let r = self.inner.generate(batch, options);
        self.w(r).map(|v| v.into_vec())
    }
    pub fn count_tokens(&self, text: &str) -> Result<u32> {
        self.w(self.inner.count_tokens(text.into()))
    }
    pub fn save(&mut self, dir: &std::path::Path) -> Result<()> {
        let d = dir.to_string_lossy();
        let r = self.inner.save(d.as_ref().into());
        self.w(r)
    }
    pub fn load_training_state(&mut self, dir: &std::path::Path) -> Result<()> {
        let d = dir.to_string_lossy();
        let r = self.inner.load_training_state(d.as_ref().into());
        self.w(r)
    }
    /// Makes the model a rank of a data-parallel group (see `lmmrotate_dist`).
    pub fn set_communicator(&mut self, comm: lmmrotate_abi::CommBox) -> Result<()> {
        let r = self.inner.set_communicator(comm);
        self.w(r)
    }
}

pub struct Format {
    pub name: String,
    inner: FormatBox,
}

impl Format {
    fn w<T>(&self, r: RResult<T, PluginError>) -> Result<T> {
        wrap(PluginKind::Format, &self.name, r)
    }
    pub fn prompt(&self) -> Result<Prompt> {
        self.w(self.inner.prompt())
    }
    /// `None` when the format drops images like this one (no objects in v1/v2).
    pub fn encode(&self, objects: &[Object], image: &ImageMeta, classes: &ClassTable) -> Result<Option<String>> {
        self.w(self.inner.encode(RSlice::from_slice(objects), image, classes))
            .map(|o| o.into_option().map(|s| s.into_string()))
    }
    pub fn decode(&self, text: &str, image: &ImageMeta, classes: &ClassTable) -> Result<Decoded> {
        self.w(self.inner.decode(text.into(), image, classes))
    }
}

pub struct Dataset {
    pub name: String,
    inner: DatasetBox,
}

impl Dataset {
    fn w<T>(&self, r: RResult<T, PluginError>) -> Result<T> {
        wrap(PluginKind::Dataset, &self.name, r)
    }
    pub fn classes(&self) -> Result<ClassTable> {
        self.w(self.inner.classes())
    }
    pub fn splits(&self) -> Result<Vec<String>> {
        self.w(self.inner.splits()).map(|v| v.into_iter().map(|s| s.into_string()).collect())
    }
    pub fn len(&self) -> Result<u64> {
        self.w(self.inner.len())
    }
    pub fn sample(&self, index: u64) -> Result<Sample> {
        self.w(self.inner.sample(index))
    }
    pub fn problems(&self) -> Result<Vec<String>> {
        self.w(self.inner.problems()).map(|v| v.into_iter().map(|s| s.into_string()).collect())
    }
}
