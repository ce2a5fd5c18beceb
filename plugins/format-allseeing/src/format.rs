//! The `allseeing` entry.

use crate::{config::Config, encode::encode_allseeing, extract::to_florence};
use lmmrotate_abi::{format_box, ClassTable, Decoded, Entry, FormatPlugin, ImageMeta, Object, PluginError, Prompt};
use lmmrotate_florence2_text::{decode, DecodeOptions, PROMPT_TEXT, TASK};
use lmmrotate_geometry::quantize::Precision;

pub struct AllSeeing {
    precision: Precision,
    decode: DecodeOptions,
}

impl AllSeeing {
    pub fn new(config: &Config) -> Self {
        Self { precision: config.precision(), decode: config.decode_options() }
    }

    pub fn from_config(json: &str) -> Result<Self, PluginError> {
        Ok(Self::new(&Config::from_json(json)?))
    }
}

impl FormatPlugin for AllSeeing {
    /// The same task prompt as Florence-2 (upstream trains other models with the expanded text).
    fn prompt(&self) -> Prompt {
        Prompt { task: TASK.into(), text: PROMPT_TEXT.into() }
    }

    fn encode(&self, objects: &[Object], image: &ImageMeta, classes: &ClassTable) -> Result<Option<String>, PluginError> {
        encode_allseeing(objects, image, classes, self.precision)
    }

    fn decode(&self, text: &str, image: &ImageMeta, classes: &ClassTable) -> Decoded {
        let (florence, mut drops) = to_florence(text);
        let mut out = decode(&florence, image, classes, &self.decode);
        drops.merge(&out.drops);
        out.drops = drops;
        out.into_abi()
    }
}

lmmrotate_abi::inventory::submit! {
    Entry::format("allseeing", "<ref>class</ref><box>[[x1, y1, ..., y4], ...]</box> groups, bins 0..999 (LMMRotate, non-Florence models)", |cfg, _host| {
        Ok(format_box(AllSeeing::from_config(cfg)?))
    })
}
