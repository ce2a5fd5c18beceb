"""A small byte-level BPE tokenizer in BART's layout, for the Florence-2 plugin's tests, and the
encodings HF's tokenizers library gives with Florence-2's 1024 added tokens.

The real Florence-2 tokenizer (BART's 50265-token vocabulary) cannot be downloaded here; this one
has the same structure (byte-level BPE, `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3, RoBERTa-style
post-processor) with a 300-token vocabulary learned from a few detection phrases. Writes under OUT
(default plugins/model-florence2-tch/tests/golden/tokenizer):

  tokenizer.json   without the Florence-2 tokens (as the microsoft repos ship it)
  encodings.json   texts → ids (special tokens added) and ids → text, with the Florence-2 tokens
                   added in upstream order (florence2.md §4.2)

Regenerate: .venv/bin/python scripts/goldens/florence2_test_tokenizer.py
"""

import json
import os
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

OUT = sys.argv[1] if len(sys.argv) > 1 else "plugins/model-florence2-tch/tests/golden/tokenizer"

CORPUS = [
    "Locate the objects tightly with quad boxes and category names in the image.",
    "Locate the objects with category name in the image.",
    "What does the image describe? There are none.",
    "plane ship storage tank baseball diamond tennis court basketball court ground track field harbor bridge",
    "large vehicle small vehicle helicopter roundabout soccer ball field swimming pool",
] * 20


def florence_tokens():
    # Florence2Processor.__init__ order.
    toks = ["<od>", "</od>", "<ocr>", "</ocr>"] + [f"<loc_{i}>" for i in range(1000)]
    toks += ["<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>", "<seg>",
             "</seg>", "<sep>", "<region_cap>", "</region_cap>", "<region_to_desciption>", "</region_to_desciption>",
             "<proposal>", "</proposal>", "<poly>", "</poly>", "<and>"]
    return toks


def main():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=False,
                                                      add_prefix_space=False)
    os.makedirs(OUT, exist_ok=True)
    tok.save(f"{OUT}/tokenizer.json")

    base = tok.get_vocab_size(with_added_tokens=True)
    tok.add_special_tokens(florence_tokens())
    texts = [
        "Locate the objects tightly with quad boxes and category names in the image.",
        "<s>plane<loc_292><loc_48><loc_292><loc_97><loc_351><loc_97><loc_351><loc_48><sep><loc_0><loc_999>small vehicle",
        "There are none.",
        "unseen wörds ∑ and emoji 🚀",
    ]
    enc = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
    dec_ids = [2, 0, 100, 200, base + 4, base + 5, base + 1014, 2, 1, 1]
    out = {
        "base_vocab": base,
        "vocab": tok.get_vocab_size(with_added_tokens=True),
        "encode": enc,
        "decode": {"ids": dec_ids, "text": tok.decode(dec_ids, skip_special_tokens=False)},
    }
    json.dump(out, open(f"{OUT}/encodings.json", "w"), indent=1, ensure_ascii=False)
    print(out["base_vocab"], out["vocab"], out["decode"])


if __name__ == "__main__":
    main()
