//! PaliGemma (SigLIP + Gemma prefix-LM) on candle: the network, HF checkpoints, tokenizer,
//! greedy and beam generation, full fine-tuning and LoRA, data-parallel training, behind the
//! `paligemma` model entry.

pub mod checkpoint;
pub mod config;
pub mod generate;
pub mod language;
pub mod layers;
pub mod lora;
pub mod model;
pub mod plugin;
pub mod processor;
pub mod tokenizer;
pub mod train;
pub mod vision;

lmmrotate_abi::export_plugin!(backend: plugin::backend_name());

lmmrotate_abi::inventory::submit! {
    lmmrotate_abi::Entry::model(
        "paligemma",
        "PaliGemma (SigLIP + Gemma) on candle: HF checkpoints, greedy and beam decoding, full fine-tuning and LoRA",
        |config, host| Ok(lmmrotate_abi::model_box(plugin::PaliGemmaPlugin::from_json(config, host)?)),
    )
}
