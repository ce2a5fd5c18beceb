//! The `v1`, `v2`, `v3` entries: one type, parameterised by version and config.

use crate::config::Config;
use lmmrotate_abi::{format_box, ClassTable, Decoded, Entry, FormatPlugin, ImageMeta, Object, PluginError, Prompt};
use lmmrotate_florence2_text::{decode, encode, DecodeOptions, EncodeOptions, Version, PROMPT_TEXT, TASK};

pub struct Florence2 {
    encode: EncodeOptions,
    decode: DecodeOptions,
}

impl Florence2 {
    pub fn new(version: Version, config: &Config) -> Self {
        Self {
            encode: EncodeOptions { version, precision: config.precision() },
            decode: config.decode_options(),
        }
    }

    pub fn from_config(version: Version, entry: &str, json: &str) -> Result<Self, PluginError> {
        Ok(Self::new(version, &Config::from_json(entry, json)?))
    }
}

impl FormatPlugin for Florence2 {
    fn prompt(&self) -> Prompt {
        Prompt { task: TASK.into(), text: PROMPT_TEXT.into() }
    }

    fn encode(&self, objects: &[Object], image: &ImageMeta, classes: &ClassTable) -> Result<Option<String>, PluginError> {
        encode(objects, image, classes, self.encode)
    }

    fn decode(&self, text: &str, image: &ImageMeta, classes: &ClassTable) -> Decoded {
        decode(text, image, classes, &self.decode).into_abi()
    }
}

lmmrotate_abi::inventory::submit! {
    Entry::format("v1", "Florence-2 quads, class name per group, no <sep> (LMMRotate v1)", |cfg, _host| {
        Ok(format_box(Florence2::from_config(Version::V1, "v1", cfg)?))
    })
}

lmmrotate_abi::inventory::submit! {
    Entry::format("v2", "Florence-2 quads, <sep> between boxes of a class (LMMRotate v2, released models)", |cfg, _host| {
        Ok(format_box(Florence2::from_config(Version::V2, "v2", cfg)?))
    })
}

lmmrotate_abi::inventory::submit! {
    Entry::format("v3", "as v2, and `There are none.` for images without objects (LMMRotate v3)", |cfg, _host| {
        Ok(format_box(Florence2::from_config(Version::V3, "v3", cfg)?))
    })
}
