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
  train_reference.safetensors                      one training step: loss, gradients and the
                                                   weights after torch's AdamW (tiny only)

Regenerate (CPU, a few seconds) with the project's virtualenv:
  .venv/bin/pip install transformers==5.17.0 safetensors
  .venv/bin/python scripts/goldens/florence2_reference.py
"""

import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import Florence2Config, Florence2ForConditionalGeneration

OUT = sys.argv[1] if len(sys.argv) > 1 else "plugins/model-florence2-tch/tests/golden/tiny"
# `base` (random Florence-2-base at 768 px, native layout only) is what scripts/gpu/parity_base.sh uses.
PRESET = sys.argv[2] if len(sys.argv) > 2 else "tiny"
VOCAB = 512 if PRESET == "tiny" else 51289
IMAGE_TOKEN = VOCAB - 1
SIZE = 128 if PRESET == "tiny" else 768
MAX_LENGTH = 24 if PRESET == "tiny" else 64
# Parameter noise that makes every LayerNorm non-trivial; larger models need less to stay
# well-conditioned (with 0.2 at base size, fp32 rounding is amplified to visible differences).
NOISE = 0.2 if PRESET == "tiny" else 0.02


def config():
    if PRESET == "base":
        # microsoft/Florence-2-base's architecture (florence2.md §1.1), random weights.
        return Florence2Config(
            vision_config=dict(embed_dim=[128, 256, 512, 1024], num_heads=[4, 8, 16, 32], num_groups=[4, 8, 16, 32],
                               depths=[1, 1, 9, 1], window_size=12, projection_dim=768),
            text_config=dict(vocab_size=VOCAB, d_model=768, encoder_layers=6, decoder_layers=6,
                             encoder_attention_heads=12, decoder_attention_heads=12, encoder_ffn_dim=3072,
                             decoder_ffn_dim=3072, max_position_embeddings=1024, pad_token_id=1, bos_token_id=0,
                             eos_token_id=2, decoder_start_token_id=2, forced_bos_token_id=0, forced_eos_token_id=2),
            image_token_id=IMAGE_TOKEN,
        )
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
            p.add_(torch.randn_like(p) * NOISE)
    os.makedirs(f"{OUT}/native", exist_ok=True)
    model.save_pretrained(f"{OUT}/native", safe_serialization=True)

    if PRESET == "tiny":
        write_original_layouts(model)
    reference(model, "cpu")
    if PRESET == "tiny":
        train_reference(model)
    if PRESET != "tiny" and torch.cuda.is_available():
        # The same computation with the GPU's default numerics (cuDNN convolutions in TF32, as in
        # libtorch), to compare the Rust model on CUDA against HF on the same GPU.
        reference(model.cuda(), "cuda")


def write_original_layouts(model):
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


def reference(model, device):
    suffix = "" if device == "cpu" else "-" + device
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(2, 3, SIZE, SIZE, generator=g)
    prompt = torch.tensor([[0, 100, 200, 300, 400, 2]] * 2)
    n_img = (SIZE // 32) ** 2 + 1
    input_ids = torch.cat([torch.full((2, n_img), IMAGE_TOKEN), prompt], 1)
    decoder_ids = torch.tensor([[2, 0, 5, 6, 7, 8, 9, 10], [2, 0, 11, 12, 13, 14, 15, 1]])

    pixels, prompt, input_ids, decoder_ids = (t.to(device) for t in (pixels, prompt, input_ids, decoder_ids))
    with torch.no_grad():
        feats = model.model.get_image_features(pixel_values=pixels)
        feats = feats if torch.is_tensor(feats) else feats.pooler_output
        out = model(input_ids=input_ids, pixel_values=pixels, decoder_input_ids=decoder_ids)
        gen = {}
        for beams in (1, 3):
            ids = model.generate(
                input_ids=input_ids, pixel_values=pixels, max_length=MAX_LENGTH, num_beams=beams, do_sample=False,
                early_stopping=False, no_repeat_ngram_size=3, length_penalty=1.0, decoder_start_token_id=2,
                forced_bos_token_id=0, forced_eos_token_id=2, eos_token_id=2, pad_token_id=1,
            )
            gen[f"beams{beams}"] = ids.tolist()
    save_file(
        {
            "pixel_values": pixels.cpu(),
            "prompt_ids": prompt.cpu(),
            "decoder_ids": decoder_ids.cpu(),
            "image_features": feats.contiguous().cpu(),
            "encoder_out": out.encoder_last_hidden_state.contiguous().cpu(),
            "logits": out.logits.contiguous().cpu(),
        },
        f"{OUT}/reference{suffix}.safetensors",
    )
    json.dump({"max_length": MAX_LENGTH, "no_repeat_ngram_size": 3, **gen},
              open(f"{OUT}/reference{suffix}.json", "w"), indent=1)
    print("wrote", OUT, gen)


def train_reference(model):
    """One training step as LMMRotate takes it (labels -> shifted decoder inputs, mean token
    cross-entropy over the labels as upstream's remote code computes it, torch.optim.AdamW), in
    eval mode so that no dropout makes it random. Gradients and updated weights of every
    parameter, by native key."""
    model = model.eval()
    g = torch.Generator().manual_seed(2)
    pixels = torch.randn(2, 3, SIZE, SIZE, generator=g)
    prompt = torch.tensor([[0, 100, 200, 300, 400, 2]] * 2)
    n_img = (SIZE // 32) ** 2 + 1
    input_ids = torch.cat([torch.full((2, n_img), IMAGE_TOKEN), prompt], 1)
    labels = torch.tensor([[0, 5, 6, 7, 8, 9, 10, 2], [0, 11, 12, 13, 14, 2, -100, -100]])
    out = model(input_ids=input_ids, pixel_values=pixels, labels=labels)
    out.loss.backward()
    names = [n for n, _ in model.named_parameters()]
    grads = {f"grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    opt.step()
    after = {f"after.{n}": p.detach().clone() for n, p in model.named_parameters()}
    save_file(
        {"pixel_values": pixels, "prompt_ids": prompt, "labels": labels, "loss": out.loss.detach().reshape(1), **grads, **after},
        f"{OUT}/train_reference.safetensors",
    )
    print("train reference: loss", out.loss.item(), len(names), "parameters")


if __name__ == "__main__":
    main()
