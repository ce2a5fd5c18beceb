"""Reference tensors for the Florence-2 plugin's parity tests, produced by HF transformers.

Builds a random-initialised Florence-2 of a tiny configuration (same architecture as base/large:
every DaViT stage pads its windows at 128 px with window 3) with transformers'
native `Florence2ForConditionalGeneration`, perturbs every parameter so that no LayerNorm is the
identity, and writes under OUT (default plugins/model-florence2-tch/tests/golden/tiny):

  native/config.json, native/model.safetensors     transformers-native keys (save_pretrained)
  original/config.json, original/model.safetensors original microsoft keys (mapped here)
  original-bin/pytorch_model.bin                   the same, fp16, as torch.save writes it
  reference.safetensors                            inputs and outputs (see below)
  reference.json                                   generated token ids (greedy, 3 beams)

Regenerate (CPU, a few seconds) with the project's virtualenv:
  .venv/bin/pip install transformers==5.17.0 safetensors
  .venv/bin/python scripts/goldens/florence2_tiny.py
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import Florence2Config, Florence2ForConditionalGeneration

OUT = sys.argv[1] if len(sys.argv) > 1 else "plugins/model-florence2-tch/tests/golden/tiny"
VOCAB = 512
IMAGE_TOKEN = VOCAB - 1
SIZE = 128


def config():
    return Florence2Config(
        vision_config=dict(
            embed_dim=[16, 32, 32, 64], num_heads=[1, 2, 2, 2], num_groups=[2, 1, 2, 2], depths=[1, 1, 2, 1],
            window_size=3, drop_path_rate=0.1, projection_dim=16,
        ),
        text_config=dict(
            vocab_size=VOCAB, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
            dropout=0.1, attention_dropout=0.1, activation_dropout=0.1, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=0, forced_eos_token_id=2,
        ),
        image_token_id=IMAGE_TOKEN,
    )


# Native key → original key (florence2.md §3.4), for the vision and projector parts.
def to_original(k):
    if k.startswith("model.language_model."):
        return "language_model.model." + k[len("model.language_model."):]
    if k == "lm_head.weight":
        return "language_model.lm_head.weight"
    if k.startswith("model.multi_modal_projector."):
        rest = k[len("model.multi_modal_projector."):]
        if rest == "image_projection.weight":
            return "image_projection"
        return rest.replace("image_position_embed.", "image_pos_embed.")
    assert k.startswith("model.vision_tower."), k
    rest = k[len("model."):]
    parts = rest.split(".")
    if parts[1] == "convs":
        return rest.replace(".conv.", ".proj.")
    # vision_tower.blocks.{s}.{b}.{kind}_block.<sub>...
    head, sub = ".".join(parts[:5]), parts[5:]
    attn = "window_attn" if parts[4] == "spatial_block" else "channel_attn"
    name = sub[0]
    tail = ".".join(sub[1:])
    if name in ("conv1", "conv2"):
        return f"{head}.{name}.fn.dw.{tail}"
    if name == "norm1":
        return f"{head}.{attn}.norm.{tail}"
    if name in ("window_attn", "channel_attn"):
        return f"{head}.{attn}.fn.{tail}"
    if name == "norm2":
        return f"{head}.ffn.norm.{tail}"
    if name == "ffn":
        return f"{head}.ffn.fn.net.{tail}"
    raise KeyError(k)


def main():
    torch.manual_seed(0)
    cfg = config()
    model = Florence2ForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    os.makedirs(f"{OUT}/native", exist_ok=True)
    model.save_pretrained(f"{OUT}/native", safe_serialization=True)

    state = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    original = {}
    for k, v in state.items():
        if k in ("model.language_model.encoder.embed_tokens.weight", "model.language_model.decoder.embed_tokens.weight"):
            continue
        ok = to_original(k)
        original[ok] = v.t().contiguous() if ok == "image_projection" else v
    os.makedirs(f"{OUT}/original", exist_ok=True)
    save_file(original, f"{OUT}/original/model.safetensors")
    os.makedirs(f"{OUT}/original-bin", exist_ok=True)
    torch.save({k: v.half() for k, v in original.items()}, f"{OUT}/original-bin/pytorch_model.bin")
    native_cfg = json.load(open(f"{OUT}/native/config.json"))
    for d in ("original", "original-bin"):
        json.dump(native_cfg, open(f"{OUT}/{d}/config.json", "w"), indent=2)

    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(2, 3, SIZE, SIZE, generator=g)
    prompt = torch.tensor([[0, 100, 200, 300, 400, 2]] * 2)
    n_img = (SIZE // 32) ** 2 + 1
    input_ids = torch.cat([torch.full((2, n_img), IMAGE_TOKEN), prompt], 1)
    decoder_ids = torch.tensor([[2, 0, 5, 6, 7, 8, 9, 10], [2, 0, 11, 12, 13, 14, 15, 1]])

    with torch.no_grad():
        feats = model.model.get_image_features(pixel_values=pixels)
        feats = feats if torch.is_tensor(feats) else feats.pooler_output
        out = model(input_ids=input_ids, pixel_values=pixels, decoder_input_ids=decoder_ids)
        gen = {}
        for beams in (1, 3):
            ids = model.generate(
                input_ids=input_ids, pixel_values=pixels, max_length=24, num_beams=beams, do_sample=False,
                early_stopping=False, no_repeat_ngram_size=3, length_penalty=1.0, decoder_start_token_id=2,
                forced_bos_token_id=0, forced_eos_token_id=2, eos_token_id=2, pad_token_id=1,
            )
            gen[f"beams{beams}"] = ids.tolist()
    save_file(
        {
            "pixel_values": pixels,
            "prompt_ids": prompt,
            "decoder_ids": decoder_ids,
            "image_features": feats.contiguous(),
            "encoder_out": out.encoder_last_hidden_state.contiguous(),
            "logits": out.logits.contiguous(),
        },
        f"{OUT}/reference.safetensors",
    )
    json.dump({"max_length": 24, "no_repeat_ngram_size": 3, **gen}, open(f"{OUT}/reference.json", "w"), indent=1)
    print("wrote", OUT, {k: v for k, v in gen.items()})


if __name__ == "__main__":
    main()
