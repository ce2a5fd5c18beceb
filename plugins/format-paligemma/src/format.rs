//! The `paligemma` entry.

use crate::{config::Config, decode::decode, encode::encode};
use lmmrotate_abi::{format_box, ClassTable, Decoded, Entry, FormatPlugin, ImageMeta, Object, PluginError, Prompt};

pub struct PaliGemmaFormat {
    config: Config,
}

impl PaliGemmaFormat {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

impl FormatPlugin for PaliGemmaFormat {
    fn prompt(&self) -> Prompt {
        // PaliGemma has no task tokens: the prompt is the text the model reads.
        Prompt { task: self.config.prompt.as_str().into(), text: self.config.prompt.as_str().into() }
    }

    fn encode(&self, objects: &[Object], image: &ImageMeta, classes: &ClassTable) -> Result<Option<String>, PluginError> {
        encode(objects, image, classes).map(Some)
    }

    fn decode(&self, text: &str, image: &ImageMeta, classes: &ClassTable) -> Decoded {
        decode(text, image, classes, self.config.fuzzy_cutoff).into_abi()
    }
}

lmmrotate_abi::inventory::submit! {
    Entry::format("paligemma", "quads as 8 PaliGemma <locNNNN> tokens (y, x) before the class name, ` ; ` between objects", |cfg, _host| {
        Ok(format_box(PaliGemmaFormat::new(Config::from_json(cfg)?)))
    })
}
