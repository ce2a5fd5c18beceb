"""Checks that a checkpoint folder saved by lmmrotate with `save_layout = "native"` loads in HF
transformers' native Florence2ForConditionalGeneration with no missing, unexpected or mis-shaped
keys, and that the loaded weights equal the file's (the transposed image projection included).

    .venv/bin/python scripts/goldens/check_hf_loads.py DIR
"""

import sys

import torch
from safetensors.torch import load_file
from transformers import Florence2ForConditionalGeneration

folder = sys.argv[1]
model, info = Florence2ForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
problems = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
# The tied input embeddings of the BART stacks are aliases of `shared`, never stored.
problems.get("missing_keys", set()).discard("model.language_model.encoder.embed_tokens.weight")
problems.get("missing_keys", set()).discard("model.language_model.decoder.embed_tokens.weight")
problems = {k: v for k, v in problems.items() if v}
assert not problems, problems
saved = load_file(f"{folder}/model.safetensors")
state = model.state_dict()
for k, v in saved.items():
    assert torch.equal(state[k].to(v.dtype), v), k
print(f"ok: {len(saved)} tensors load into transformers' Florence2ForConditionalGeneration unchanged")
