"""Reference tensors for the PaliGemma plugin's parity tests, produced by HF transformers.

Builds a tiny tokenizer (a Gemma-like BPE with `<image>`, `<loc0000>`…`<loc1023>`, `<seg000>`…
`<seg127>`, in PaliGemma's order), a SigLIP image processor, and a random-initialised
`PaliGemmaForConditionalGeneration` of a tiny configuration (SigLIP 2 layers at 32 px with
8 px patches = 16 image tokens; Gemma 2 layers, 4 query heads sharing 1 key/value head of width 16
as PaliGemma-3b's multi-query attention). Every parameter is perturbed so that no norm is the
identity. Writes under OUT (default plugins/model-paligemma-candle/tests/golden/tiny):

  native/                 save_pretrained: config.json, model.safetensors (transformers-5 keys),
                          tokenizer.json, preprocessor_config.json, ...
  original/               the same weights with the hub checkpoints' key names
                          (`language_model.model.*`, `vision_tower.vision_model.*`), split into two
                          shards with model.safetensors.index.json, as google/paligemma-3b-* ship
  reference.safetensors   inputs and outputs (see `tensors` below)
  reference.json          prompts, targets, token ids and greedy generations
  generate.json           beam search and n-gram-constrained greedy generations of the same
                          batch (`GENERATE` below: beams, no_repeat_ngram_size, length_penalty,
                          early_stopping, and an eos of ` pool`, a frequent token of this model,
                          so that hypotheses finish before max_new_tokens)

Regenerate (CPU, a few seconds) with the project's virtualenv:
  .venv/bin/pip install -r scripts/goldens/requirements.txt
  .venv/bin/python scripts/goldens/paligemma_reference.py
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import AddedToken
from transformers import (
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    PreTrainedTokenizerFast,
    SiglipImageProcessor,
)

OUT = sys.argv[1] if len(sys.argv) > 1 else "plugins/model-paligemma-candle/tests/golden/tiny"
SIZE, PATCH = 32, 8
IMAGE_TOKENS = (SIZE // PATCH) ** 2
NOISE = 0.5  # 0.2 leaves greedy decoding stuck on one token; 0.5 gives varied tokens
MAX_NEW = 12
POOL = 227  # `▁pool`: a token this random model emits often, used as eos to make beams finish
# generate(**kwargs) cases of generate.json (each with max_new_tokens=MAX_NEW, pad_token_id=0).
GENERATE = [
    dict(num_beams=3, no_repeat_ngram_size=3, length_penalty=1.0, early_stopping=False, eos_token_id=1),
    dict(num_beams=3, no_repeat_ngram_size=3, length_penalty=1.0, early_stopping=False, eos_token_id=POOL),
    dict(num_beams=4, no_repeat_ngram_size=2, length_penalty=0.5, early_stopping=True, eos_token_id=POOL),
    dict(num_beams=2, no_repeat_ngram_size=0, length_penalty=2.0, early_stopping=False, eos_token_id=POOL),
    dict(num_beams=1, no_repeat_ngram_size=1, length_penalty=1.0, early_stopping=False, eos_token_id=1),
    dict(num_beams=1, no_repeat_ngram_size=2, length_penalty=1.0, early_stopping=False, eos_token_id=POOL),
]

CORPUS = [
    "detect plane ; ship ; storage tank ; baseball diamond ; tennis court ; basketball court",
    "ground track field ; harbor ; bridge ; large vehicle ; small vehicle ; helicopter",
    "roundabout ; soccer ball field ; swimming pool ; container crane ; airport ; helipad",
    "Locate the objects tightly with quad boxes and category names in the image.",
    "caption en detect rotated objects there are none",
]


def tokenizer():
    """A Gemma-like BPE: spaces become `▁` (Gemma's normaliser), no pre-tokenizer splitting beyond
    Metaspace, `<pad>` 0, `<eos>` 1, `<bos>` 2, `<unk>` 3 (Gemma's ids), then the PaliGemma tokens."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"],
        initial_alphabet=list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:-'\n▁"),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    # PaliGemma's order: 1024 location tokens, 128 segmentation tokens, then `<image>`.
    tok.add_tokens([AddedToken(f"<loc{i:04d}>", normalized=False) for i in range(1024)])
    tok.add_tokens([AddedToken(f"<seg{i:03d}>", normalized=False) for i in range(128)])
    tok.add_special_tokens([AddedToken("<image>", normalized=False, special=True)])
    return tok


def perturb(model):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.add_(NOISE * torch.randn(p.shape, generator=g))


def images():
    """Two deterministic 32×32 RGB images (a bright rectangle on a gradient)."""
    out = []
    for k in range(2):
        a = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
        a[..., 0] = np.arange(SIZE, dtype=np.uint8)[None, :] * 7
        a[..., 1] = np.arange(SIZE, dtype=np.uint8)[:, None] * 5 + 40 * k
        a[..., 2] = 90
        a[4 + 8 * k:14 + 8 * k, 6:24] = [230, 210 - 90 * k, 40]
        out.append(Image.fromarray(a))
    return out


def cut_at_eos(rows, eos):
    """Generated ids up to and including the first eos (the rest is padding)."""
    return [row[: row.index(eos) + 1] if eos in row else row for row in rows]


def main():
    torch.manual_seed(0)
    tok = tokenizer()
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    hf_tok.image_token = "<image>"
    hf_tok.image_token_id = tok.token_to_id("<image>")
    image_processor = SiglipImageProcessor(
        size={"height": SIZE, "width": SIZE}, resample=3, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    image_processor.image_seq_length = IMAGE_TOKENS
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=hf_tok)
    vocab = len(hf_tok)
    image_token_id = tok.token_to_id("<image>")

    cfg = PaliGemmaConfig(
        vision_config=dict(
            model_type="siglip_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, image_size=SIZE, patch_size=PATCH, projection_dim=32,
            vision_use_head=False, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
        ),
        text_config=dict(
            model_type="gemma", vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
            rms_norm_eps=1e-6, rope_theta=10000.0, hidden_act="gelu_pytorch_tanh", pad_token_id=0,
            bos_token_id=2, eos_token_id=1,
        ),
        image_token_index=image_token_id, projection_dim=32, hidden_size=32,
        pad_token_id=0, bos_token_id=2, eos_token_id=1,
    )
    cfg._attn_implementation = "eager"
    model = PaliGemmaForConditionalGeneration(cfg).eval()
    perturb(model)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = 1
    model.generation_config.bos_token_id = 2

    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    native = os.path.join(OUT, "native")
    model.save_pretrained(native)
    processor.save_pretrained(native)
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}

    # The hub checkpoints' (transformers 4.x) key names, in two shards with an index.
    def to_original(k):
        for new, old in [
            ("model.language_model.", "language_model.model."),
            ("model.vision_tower.", "vision_tower.vision_model."),
            ("model.multi_modal_projector.", "multi_modal_projector."),
            ("lm_head.", "language_model.lm_head."),
        ]:
            if k.startswith(new):
                return old + k[len(new):]
        raise KeyError(k)

    original = os.path.join(OUT, "original")
    os.makedirs(original)
    names = sorted(k for k in sd if k != "lm_head.weight")  # tied: the hub files omit the head too
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({to_original(k): sd[k] for k in part}, os.path.join(original, fname), metadata={"format": "pt"})
        weight_map.update({to_original(k): fname for k in part})
    with open(os.path.join(original, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(sd[k].numel() * 4 for k in names)}, "weight_map": weight_map}, f, indent=1)
    for f in ["config.json", "tokenizer.json"]:
        shutil.copy(os.path.join(native, f), original)
    # The hub folders have a separate preprocessor_config.json (transformers 5 nests it in
    # processor_config.json); the plugin reads either.
    with open(os.path.join(native, "processor_config.json")) as f:
        pre = json.load(f)["image_processor"]
    with open(os.path.join(original, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=1)

    imgs = images()
    prompts = ["detect plane ; ship", "caption en"]
    targets = [
        "<loc0100><loc0200><loc0300><loc0400><loc0500><loc0600><loc0700><loc0800> plane",
        "there are none",
    ]
    # Training batch: prefix (image tokens, <bos>, prompt, "\n") + suffix (target, <eos>), right padded.
    hf_tok.padding_side = "right"
    train = processor(images=imgs, text=["<image>" + p for p in prompts], suffix=targets, return_tensors="pt",
                      padding="longest")
    with torch.no_grad():
        out = model(
            input_ids=train["input_ids"], pixel_values=train["pixel_values"], attention_mask=train["attention_mask"],
            token_type_ids=train["token_type_ids"], labels=train["labels"],
        )
        feats = model.model.get_image_features(train["pixel_values"]).pooler_output

    # Generation batch: prompts of different lengths, left padded as HF generates.
    hf_tok.padding_side = "left"
    gen_prompts = ["detect plane ; ship", "caption en"]
    gen = processor(images=imgs, text=["<image>" + p for p in gen_prompts], return_tensors="pt", padding="longest")
    with torch.no_grad():
        seqs = model.generate(
            **gen, max_new_tokens=MAX_NEW, do_sample=False, num_beams=1, eos_token_id=1, pad_token_id=0,
        )
    plen = gen["input_ids"].shape[1]
    greedy = cut_at_eos(seqs[:, plen:].tolist(), 1)

    cases = []
    for case in GENERATE:
        with torch.no_grad():
            out_ids = model.generate(**gen, max_new_tokens=MAX_NEW, do_sample=False, pad_token_id=0, **case)
        cases.append(dict(case, max_new_tokens=MAX_NEW, ids=cut_at_eos(out_ids[:, plen:].tolist(), case["eos_token_id"])))

    tensors = {
        "pixel_values": train["pixel_values"].float(),
        "images_u8": torch.from_numpy(np.stack([np.asarray(i) for i in imgs])).to(torch.uint8),
        "input_ids": train["input_ids"].long(),
        "attention_mask": train["attention_mask"].long(),
        "token_type_ids": train["token_type_ids"].long(),
        "labels": train["labels"].long(),
        "image_features": feats.float(),
        "logits": out.logits.float(),
        "loss": out.loss.reshape(1).float(),
        "gen_input_ids": gen["input_ids"].long(),
        "gen_attention_mask": gen["attention_mask"].long(),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "reference.safetensors"))
    ref = {
        "transformers": __import__("transformers").__version__,
        "vocab": vocab,
        "image_token_id": image_token_id,
        "prompts": prompts,
        "targets": targets,
        "train_input_ids": train["input_ids"].tolist(),
        "train_labels": train["labels"].tolist(),
        "gen_prompts": gen_prompts,
        "gen_input_ids": gen["input_ids"].tolist(),
        "max_new_tokens": MAX_NEW,
        "greedy": greedy,
        "greedy_text": [processor.decode(g, skip_special_tokens=False) for g in greedy],
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    with open(os.path.join(OUT, "generate.json"), "w") as f:
        json.dump({"transformers": ref["transformers"], "prompts": gen_prompts, "cases": cases}, f, indent=1)
    print("loss", out.loss.item(), "greedy", greedy)
    for c in cases:
        print(c)


if __name__ == "__main__":
    main()
