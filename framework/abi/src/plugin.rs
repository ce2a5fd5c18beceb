//! What a plugin author implements: plain Rust traits (no `RResult` plumbing, panics allowed to
//! escape into the adapters), and an [`Entry`] per model, format or dataset variant, registered
//! next to its code:
//!
//! ```ignore
//! lmmrotate_abi::inventory::submit! {
//!     lmmrotate_abi::Entry::format("v2", "Florence-2 quads with <sep>", |cfg, host| Ok(format_box(V2::new(cfg)?)))
//! }
//! ```

use crate::{
    boundary::{DatasetBox, FormatBox, ModelBox},
    comm::CommBox,
    error::{ErrorKind, PluginError},
    host::HostBox,
    types::*,
};

pub trait ModelPlugin: Send + 'static {
    fn info(&self) -> Result<ModelInfo, PluginError>;
    fn set_training(&mut self, training: bool) -> Result<(), PluginError>;
    fn configure_training(&mut self, options_json: &str) -> Result<(), PluginError>;
    fn train_step(&mut self, batch: &TrainBatch, control: StepControl) -> Result<TrainStats, PluginError>;
    fn generate(&mut self, batch: &GenBatch, options: &GenOptions) -> Result<Vec<Generation>, PluginError>;
    fn count_tokens(&self, text: &str) -> Result<u32, PluginError>;
    fn save(&mut self, dir: &str) -> Result<(), PluginError>;
    fn load_training_state(&mut self, dir: &str) -> Result<(), PluginError>;
    /// Joins a data-parallel group (see `boundary::Model::set_communicator`); models that do not
    /// support it keep this default, which accepts only a group of one.
    fn set_communicator(&mut self, comm: CommBox) -> Result<(), PluginError> {
        if comm.world_size() > 1 {
            return Err(PluginError::new(ErrorKind::UNSUPPORTED, "this model does not support data-parallel training"));
        }
        Ok(())
    }
}

pub trait FormatPlugin: Send + Sync + 'static {
    fn prompt(&self) -> Prompt;
    fn encode(&self, objects: &[Object], image: &ImageMeta, classes: &ClassTable) -> Result<Option<String>, PluginError>;
    fn decode(&self, text: &str, image: &ImageMeta, classes: &ClassTable) -> Decoded;
}

pub trait DatasetPlugin: Send + Sync + 'static {
    fn classes(&self) -> ClassTable;
    fn splits(&self) -> Vec<String>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn sample(&self, index: usize) -> Result<Sample, PluginError>;
    fn problems(&self) -> Vec<String>;
}

/// Builds an entry from its JSON config (`{}` when the registry gives none) and the host handle.
pub enum Factory {
    Model(fn(&str, HostBox) -> Result<ModelBox, PluginError>),
    Format(fn(&str, HostBox) -> Result<FormatBox, PluginError>),
    Dataset(fn(&str, HostBox) -> Result<DatasetBox, PluginError>),
}

/// One thing a library offers, registered with `inventory::submit!`.
pub struct Entry {
    pub name: &'static str,
    pub description: &'static str,
    pub factory: Factory,
}

impl Entry {
    pub const fn model(
        name: &'static str,
        description: &'static str,
        f: fn(&str, HostBox) -> Result<ModelBox, PluginError>,
    ) -> Self {
        Self { name, description, factory: Factory::Model(f) }
    }
    pub const fn format(
        name: &'static str,
        description: &'static str,
        f: fn(&str, HostBox) -> Result<FormatBox, PluginError>,
    ) -> Self {
        Self { name, description, factory: Factory::Format(f) }
    }
    pub const fn dataset(
        name: &'static str,
        description: &'static str,
        f: fn(&str, HostBox) -> Result<DatasetBox, PluginError>,
    ) -> Self {
        Self { name, description, factory: Factory::Dataset(f) }
    }

    pub fn kind(&self) -> PluginKind {
        match self.factory {
            Factory::Model(_) => PluginKind::Model,
            Factory::Format(_) => PluginKind::Format,
            Factory::Dataset(_) => PluginKind::Dataset,
        }
    }
}

inventory::collect!(Entry);

/// Every entry linked into this binary or library, sorted by kind and name.
pub fn entries() -> Vec<&'static Entry> {
    let mut v: Vec<&'static Entry> = inventory::iter::<Entry>.into_iter().collect();
    v.sort_by(|a, b| (a.kind(), a.name).cmp(&(b.kind(), b.name)));
    v
}

/// The entry of that kind and name, if this binary or library has it.
pub fn find(kind: PluginKind, name: &str) -> Option<&'static Entry> {
    inventory::iter::<Entry>.into_iter().find(|e| e.kind() == kind && e.name == name)
}
