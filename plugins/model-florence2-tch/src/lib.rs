//! Florence-2 on libtorch (tch 0.24.0 / PyTorch 2.11.0): the network, checkpoints, tokenizer,
//! generation and training behind the `florence2` model entry.

pub mod checkpoint;
pub mod config;
pub mod generate;
pub mod language;
pub mod model;
pub mod plugin;
pub mod processor;
pub mod recompute;
mod shim;
pub mod tokenizer;
pub mod train;
pub mod vision;

lmmrotate_abi::export_plugin!(backend: plugin::backend());

lmmrotate_abi::inventory::submit! {
    lmmrotate_abi::Entry::model(
        "florence2",
        "Florence-2 (DaViT + BART) on libtorch: HF checkpoints, beam search, training",
        |config, host| Ok(lmmrotate_abi::model_box(plugin::Florence2Plugin::from_json(config, host)?)),
    )
}
