//! The `#[sabi_trait]` objects the host calls. Plugin authors implement the plain Rust traits of
//! [`crate::plugin`] instead; the adapters here wrap every method in [`guard`] so that a panic in
//! plugin code becomes an error instead of aborting the host.
//!
//! ABI evolution: methods are only ever added at the end, below the `last_prefix_field` marker,
//! with default bodies; the marker moves only with a minor bump of [`crate::ABI_VERSION`].

use crate::{
    comm::CommBox,
    error::{ErrorKind, PluginError},
    guard::guard,
    plugin::{DatasetPlugin, FormatPlugin, ModelPlugin},
    types::*,
};
use abi_stable::{
    sabi_trait,
    sabi_trait::TD_Opaque,
    std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec},
};

#[sabi_trait]
pub trait Model: Send {
    fn info(&self) -> RResult<ModelInfo, PluginError>;

    /// Switch between training (dropout on) and inference mode.
    fn set_training(&mut self, training: bool) -> RResult<(), PluginError>;

    /// Optimizer, precision and freezing options as a JSON object (model-specific keys).
    fn configure_training(&mut self, options_json: RStr<'_>) -> RResult<(), PluginError>;

    fn train_step(&mut self, batch: &TrainBatch, control: StepControl) -> RResult<TrainStats, PluginError>;

    fn generate(&mut self, batch: &GenBatch, options: &GenOptions) -> RResult<RVec<Generation>, PluginError>;

    /// Tokens the target `text` costs (special tokens included), for truncation reports.
    fn count_tokens(&self, text: RStr<'_>) -> RResult<u32, PluginError>;

    /// Writes weights, config, tokenizer and (when training) optimizer state into `dir`.
    fn save(&mut self, dir: RStr<'_>) -> RResult<(), PluginError>;

    /// End of ABI 0.1: add new methods below this one, with default bodies.
    /// Restores optimizer state written by `save` (weights come from the config's checkpoint).
    #[sabi(last_prefix_field)]
    fn load_training_state(&mut self, dir: RStr<'_>) -> RResult<(), PluginError>;

    /// ABI 0.1.1. Joins a data-parallel group: the model makes its weights and optimizer state
    /// rank 0's and averages gradients over the ranks before each update. Called after
    /// `configure_training` (and `load_training_state`). Models of older plugins refuse a group
    /// of more than one rank.
    fn set_communicator(&mut self, comm: CommBox) -> RResult<(), PluginError> {
        if comm.world_size() > 1 {
            RResult::RErr(PluginError::new(ErrorKind::UNSUPPORTED, "this model plugin does not support data-parallel training"))
        } else {
            RResult::ROk(())
        }
    }
}

#[sabi_trait]
pub trait ResponseFormat: Send + Sync {
    fn prompt(&self) -> RResult<Prompt, PluginError>;

    /// The target text for an image's objects; `RNone` when the format drops such an image
    /// (e.g. florence2 v1/v2 drop images without objects).
    fn encode(
        &self,
        objects: RSlice<'_, Object>,
        image: &ImageMeta,
        classes: &ClassTable,
    ) -> RResult<ROption<RString>, PluginError>;

    /// End of ABI 0.1: add new methods below this one, with default bodies.
    /// Reads detections from model output; never fails on garbage text (only on a panic).
    #[sabi(last_prefix_field)]
    fn decode(&self, text: RStr<'_>, image: &ImageMeta, classes: &ClassTable) -> RResult<Decoded, PluginError>;
}

/// One split of a dataset (chosen by the `split` key of the entry's config).
#[sabi_trait]
pub trait Dataset: Send + Sync {
    fn classes(&self) -> RResult<ClassTable, PluginError>;

    /// Names of the splits this dataset has on disk.
    fn splits(&self) -> RResult<RVec<RString>, PluginError>;

    fn len(&self) -> RResult<u64, PluginError>;

    fn sample(&self, index: u64) -> RResult<Sample, PluginError>;

    /// End of ABI 0.1: add new methods below this one, with default bodies.
    /// Bad input skipped under `skip_bad`, one message per problem naming file and line.
    #[sabi(last_prefix_field)]
    fn problems(&self) -> RResult<RVec<RString>, PluginError>;
}

pub type ModelBox = Model_TO<'static, RBox<()>>;
pub type FormatBox = ResponseFormat_TO<'static, RBox<()>>;
pub type DatasetBox = Dataset_TO<'static, RBox<()>>;

struct ModelAdapter<T>(T);
struct FormatAdapter<T>(T);
struct DatasetAdapter<T>(T);

/// Wraps a plugin's model for the boundary.
pub fn model_box<T: ModelPlugin>(model: T) -> ModelBox {
    Model_TO::from_value(ModelAdapter(model), TD_Opaque)
}

/// Wraps a plugin's response format for the boundary.
pub fn format_box<T: FormatPlugin>(format: T) -> FormatBox {
    ResponseFormat_TO::from_value(FormatAdapter(format), TD_Opaque)
}

/// Wraps a plugin's dataset for the boundary.
pub fn dataset_box<T: DatasetPlugin>(dataset: T) -> DatasetBox {
    Dataset_TO::from_value(DatasetAdapter(dataset), TD_Opaque)
}

impl<T: ModelPlugin> Model for ModelAdapter<T> {
    fn info(&self) -> RResult<ModelInfo, PluginError> {
        guard(|| self.0.info())
    }
    fn set_training(&mut self, training: bool) -> RResult<(), PluginError> {
        guard(|| self.0.set_training(training))
    }
    fn configure_training(&mut self, options_json: RStr<'_>) -> RResult<(), PluginError> {
        guard(|| self.0.configure_training(options_json.as_str()))
    }
    fn train_step(&mut self, batch: &TrainBatch, control: StepControl) -> RResult<TrainStats, PluginError> {
        guard(|| self.0.train_step(batch, control))
    }
    fn generate(&mut self, batch: &GenBatch, options: &GenOptions) -> RResult<RVec<Generation>, PluginError> {
        guard(|| self.0.generate(batch, options).map(RVec::from))
    }
    fn count_tokens(&self, text: RStr<'_>) -> RResult<u32, PluginError> {
        guard(|| self.0.count_tokens(text.as_str()))
    }
    fn save(&mut self, dir: RStr<'_>) -> RResult<(), PluginError> {
        guard(|| self.0.save(dir.as_str()))
    }
    fn load_training_state(&mut self, dir: RStr<'_>) -> RResult<(), PluginError> {
        guard(|| self.0.load_training_state(dir.as_str()))
    }
    fn set_communicator(&mut self, comm: CommBox) -> RResult<(), PluginError> {
        guard(|| self.0.set_communicator(comm))
    }
}

impl<T: FormatPlugin> ResponseFormat for FormatAdapter<T> {
    fn prompt(&self) -> RResult<Prompt, PluginError> {
        guard(|| Ok(self.0.prompt()))
    }
    fn encode(
        &self,
        objects: RSlice<'_, Object>,
        image: &ImageMeta,
        classes: &ClassTable,
    ) -> RResult<ROption<RString>, PluginError> {
        guard(|| self.0.encode(objects.as_slice(), image, classes).map(|o| o.map(RString::from).into()))
    }
    fn decode(&self, text: RStr<'_>, image: &ImageMeta, classes: &ClassTable) -> RResult<Decoded, PluginError> {
        guard(|| Ok(self.0.decode(text.as_str(), image, classes)))
    }
}

impl<T: DatasetPlugin> Dataset for DatasetAdapter<T> {
    fn classes(&self) -> RResult<ClassTable, PluginError> {
        guard(|| Ok(self.0.classes()))
    }
    fn splits(&self) -> RResult<RVec<RString>, PluginError> {
        guard(|| Ok(self.0.splits().into_iter().map(RString::from).collect()))
    }
    fn len(&self) -> RResult<u64, PluginError> {
        guard(|| Ok(self.0.len() as u64))
    }
    fn sample(&self, index: u64) -> RResult<Sample, PluginError> {
        guard(|| self.0.sample(index as usize))
    }
    fn problems(&self) -> RResult<RVec<RString>, PluginError> {
        guard(|| Ok(self.0.problems().into_iter().map(RString::from).collect()))
    }
}
