//! Plain data that crosses the boundary. All `#[repr(C)]` and `StableAbi`; coordinates are image
//! pixels of the original image, quads are four (x, y) corners in the order given.

use abi_stable::{
    std_types::{ROption, RString, RVec},
    StableAbi,
};

/// Four corners `x1 y1 x2 y2 x3 y3 x4 y4` in image pixels.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Default)]
pub struct Quad {
    pub pts: [f32; 8],
}

impl Quad {
    pub const fn new(pts: [f32; 8]) -> Self {
        Self { pts }
    }
}

/// A ground-truth object.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub struct Object {
    pub quad: Quad,
    /// Index into the dataset's [`ClassTable`].
    pub class_id: u32,
    /// DOTA difficulty: 0 normal, 1 difficult, 2 truncated by patching.
    pub difficulty: u32,
}

/// A predicted object. Language models give no score (`RNone`); conventional detectors do.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub struct Detection {
    pub quad: Quad,
    pub class_id: u32,
    pub score: ROption<f32>,
}

/// One image of a dataset: its id (file stem), path and size in pixels.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ImageMeta {
    pub id: RString,
    pub path: RString,
    pub width: u32,
    pub height: u32,
}

/// An image with its annotations.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Sample {
    pub image: ImageMeta,
    pub objects: RVec<Object>,
}

/// Class names; the class id is the index.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct ClassTable {
    pub names: RVec<RString>,
}

impl ClassTable {
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        Self { names: names.iter().map(|s| RString::from(s.as_ref())).collect() }
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|s| s.as_str())
    }
}

/// The three kinds of plugin entry.
#[repr(u8)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginKind {
    Model,
    Format,
    Dataset,
}

impl PluginKind {
    pub const ALL: [PluginKind; 3] = [PluginKind::Model, PluginKind::Format, PluginKind::Dataset];

    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Model => "model",
            PluginKind::Format => "format",
            PluginKind::Dataset => "dataset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry a library offers (a model, a format version, a dataset variant).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct EntryInfo {
    pub kind: PluginKind,
    pub name: RString,
    pub description: RString,
}

/// A decoded 8-bit RGB image, row-major, `data.len() == width * height * 3`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: RVec<u8>,
}

/// Resampling filter the host uses to resize images to the model's size.
#[repr(u8)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Resample {
    Nearest,
    Bilinear,
    /// Catmull-Rom style bicubic with a = -0.5, antialiased when downscaling (PIL's BICUBIC).
    Bicubic,
}

/// The image size a model expects; the host decodes and resizes to it (aspect ratio not kept).
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    pub width: u32,
    pub height: u32,
    pub resample: Resample,
}

/// What a loaded model says about itself.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: RString,
    /// e.g. `tch 0.24.0 / libtorch 2.11.0`.
    pub backend: RString,
    /// e.g. `cpu`, `cuda:0`.
    pub device: RString,
    pub image: ImageSpec,
    /// Longest target text in tokens (training truncates, generation stops there).
    pub max_text_len: u32,
    /// Response formats this model can be trained to emit (`v1`, `v2`, ...); empty = any.
    pub formats: RVec<RString>,
    /// Number of parameters.
    pub parameters: u64,
}

/// One training micro-batch: images at the model's size, prompts and target texts.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct TrainBatch {
    pub images: RVec<RgbImage>,
    pub prompts: RVec<RString>,
    pub targets: RVec<RString>,
}

/// What the host asks of one `train_step`.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub struct StepControl {
    /// Learning rate for the optimizer update of this step (the host owns the schedule).
    pub lr: f64,
    /// Multiplier of this micro-batch's loss (1 / gradient-accumulation steps).
    pub loss_weight: f32,
    /// Apply the optimizer update after this micro-batch (last micro-batch of an accumulation).
    pub apply_update: bool,
}

/// Result of one `train_step`.
#[repr(C)]
#[derive(StableAbi, Copy, Clone, Debug, PartialEq)]
pub struct TrainStats {
    /// Mean token cross-entropy of the micro-batch (before `loss_weight`).
    pub loss: f64,
    /// Target tokens that counted in the loss.
    pub target_tokens: u64,
    /// Targets cut at `max_text_len`.
    pub truncated: u32,
    /// Gradient norm before clipping, when an update was applied.
    pub grad_norm: ROption<f64>,
    /// The update was skipped (non-finite gradients under fp16 loss scaling).
    pub skipped: bool,
}

/// Images and prompts to generate from.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct GenBatch {
    pub images: RVec<RgbImage>,
    pub prompts: RVec<RString>,
}

/// Decoding settings. Defaults are LMMRotate's (3 beams, no-repeat 3-grams, length penalty 1).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct GenOptions {
    /// 1 = greedy.
    pub num_beams: u32,
    /// Tokens after the decoder start token; 0 = up to the model's `max_text_len`.
    pub max_new_tokens: u32,
    /// 0 disables the constraint.
    pub no_repeat_ngram_size: u32,
    pub length_penalty: f32,
    /// Stop a beam search once `num_beams` hypotheses are finished.
    pub early_stopping: bool,
    /// Model-specific options as a JSON object (`{}` when none).
    pub extra_json: RString,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            num_beams: 3,
            max_new_tokens: 0,
            no_repeat_ngram_size: 3,
            length_penalty: 1.0,
            early_stopping: false,
            extra_json: RString::from("{}"),
        }
    }
}

/// One generated sequence: token ids (decoder start included) and their text with special tokens.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Generation {
    pub ids: RVec<u32>,
    pub text: RString,
}

/// The task prompt of a response format: the task token and the text the model is given.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Prompt {
    pub task: RString,
    pub text: RString,
}

/// A reason a decoder dropped part of a response, with how often.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct DropCount {
    pub reason: RString,
    pub count: u32,
}

/// A label that was not an exact class name and was matched by similarity.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct FuzzyMatch {
    pub label: RString,
    pub class_id: u32,
    /// Similarity in [0, 100].
    pub score: f32,
}

/// What a response format could read from a text. Decoding never fails on garbage.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Default)]
pub struct Decoded {
    pub detections: RVec<Detection>,
    pub dropped: RVec<DropCount>,
    pub fuzzy: RVec<FuzzyMatch>,
}
