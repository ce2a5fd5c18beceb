"""Side by side on one CUDA GPU, in one run: HF transformers' native Florence-2 and lmmrotate on the
same random weights (made here, saved, loaded by lmmrotate) and the same shapes.

For each configuration: a training step (forward + backward + fused AdamW, bf16 weights, SDPA) and
generation with forced length (min_new_tokens = max_new_tokens) with 3 beams; then the same through
`lmmrotate bench` (carry/lmmrotate, scripts/gpu/registry.toml). Prints one JSON line per
measurement and a table of ratios. Usage (device machine, repository root):

    python3 scripts/gpu/bench_vs_hf.py [base768|large1024 ...]

LMM_TRAIN_OPTIONS (JSON) goes to lmmrotate's training step (`bench --train-options`), e.g.
'{"master_weights": false}' for HF's setting (bf16 weights and moments, no fp32 master copy) or
'{"gradient_checkpointing": true}'.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

import torch
from transformers import Florence2Config, Florence2ForConditionalGeneration

TOKENIZER = "plugins/model-florence2-tch/tests/golden/tokenizer/tokenizer.json"
VOCAB = 1325  # the test tokenizer's 1324 tokens + the native <image> token
IMAGE_TOKEN = 1324
CONFIGS = {
    # name: (preset, image size, text positions, batch, target tokens, generated tokens)
    "base768": ("base", 768, 1024, 2, 256, 128),
    "large1024": ("large", 1024, 2048, 2, 1024, 128),
}


def hf_config(preset, positions):
    if preset == "base":
        v = dict(embed_dim=[128, 256, 512, 1024], num_heads=[4, 8, 16, 32], num_groups=[4, 8, 16, 32], projection_dim=768)
        t = dict(d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12, decoder_attention_heads=12,
                 encoder_ffn_dim=3072, decoder_ffn_dim=3072)
    else:
        v = dict(embed_dim=[256, 512, 1024, 2048], num_heads=[8, 16, 32, 64], num_groups=[8, 16, 32, 64], projection_dim=1024)
        t = dict(d_model=1024, encoder_layers=12, decoder_layers=12, encoder_attention_heads=16, decoder_attention_heads=16,
                 encoder_ffn_dim=4096, decoder_ffn_dim=4096)
    v.update(depths=[1, 1, 9, 1], window_size=12)
    t.update(vocab_size=VOCAB, max_position_embeddings=positions, pad_token_id=1, bos_token_id=0, eos_token_id=2,
             decoder_start_token_id=2, forced_bos_token_id=0, forced_eos_token_id=2)
    cfg = Florence2Config(vision_config=v, text_config=t, image_token_id=IMAGE_TOKEN)
    cfg._attn_implementation = "sdpa"
    return cfg


def timed(fn, steps=10, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


class DevicePeak:
    """Device memory in use (the driver's view, torch.cuda.mem_get_info) sampled on a thread, as
    `lmmrotate bench` samples cuMemGetInfo: the same measure on both sides."""

    def __enter__(self):
        free, total = torch.cuda.mem_get_info()
        self.before = self.peak = total - free
        self.running = True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self):
        while self.running:
            free, total = torch.cuda.mem_get_info()
            self.peak = max(self.peak, total - free)
            time.sleep(0.0005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()

    def own_gib(self):
        return (self.peak - self.before) / 2**30


def hf_bench(name):
    preset, size, positions, batch, target, new = CONFIGS[name]
    torch.manual_seed(0)
    torch.cuda.init()
    mem = DevicePeak().__enter__()
    model = Florence2ForConditionalGeneration(hf_config(preset, positions)).to("cuda", torch.bfloat16)
    out_dir = f"/tmp/bench_{name}"
    model.save_pretrained(out_dir, safe_serialization=True)
    shutil.copy(TOKENIZER, out_dir)
    n_img = (size // 32) ** 2 + 1
    prompt = torch.randint(3, 1200, (batch, 17), device="cuda")
    ids = torch.cat([torch.full((batch, n_img), IMAGE_TOKEN, device="cuda"), prompt], 1)
    pixels = torch.randn(batch, 3, size, size, device="cuda", dtype=torch.bfloat16)
    labels = torch.randint(3, 1200, (batch, target), device="cuda")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=True)
    model.train()

    def step():
        model(input_ids=ids, pixel_values=pixels, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    torch.cuda.reset_peak_memory_stats()
    train_ms = timed(step)
    mem.__exit__()
    peak = torch.cuda.max_memory_allocated() / 2**30
    model.eval()
    with torch.no_grad():
        gen_ms = timed(lambda: model.generate(input_ids=ids, pixel_values=pixels, max_new_tokens=new, min_new_tokens=new,
                                              num_beams=3, do_sample=False, no_repeat_ngram_size=0), steps=3, warmup=1)
    del model, opt
    torch.cuda.empty_cache()
    return out_dir, {"train_ms": train_ms, "train_samples_per_s": batch / train_ms * 1e3, "peak_gib": peak,
                     "device_gib": mem.own_gib(),
                     "generate_ms": gen_ms, "ms_per_token": gen_ms / new}


def lmm_bench(name, folder):
    preset, size, positions, batch, target, new = CONFIGS[name]
    cfg = json.dumps({"checkpoint": folder, "variant": None, "tokenizer": None, "dtype": "bf16", "image_size": size,
                      "max_text_len": positions, "device": "cuda"})
    base = ["./carry/lmmrotate", "-q", "--registry", "scripts/gpu/registry.toml", "bench"]
    common = ["--model", "base-random", "--model-config", cfg, "--batch", str(batch), "--json"]
    # The binary links this machine's libtorch.
    env = dict(os.environ)
    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    env["LD_LIBRARY_PATH"] = lib + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    train_opts = ["--train-options", os.environ.get("LMM_TRAIN_OPTIONS", "{}")]
    tr = json.loads(subprocess.check_output(base + ["train"] + common + ["--target-tokens", str(target)] + train_opts, env=env))
    ge = json.loads(subprocess.check_output(base + ["generate"] + common + ["--beams", "3", "--new-tokens", str(new),
                                                                            "--steps", "3", "--warmup", "1"], env=env))
    return {"train_ms": tr["result"]["step"]["median_ms"], "train_samples_per_s": tr["result"]["samples_per_second"],
            "target_tokens": tr["result"]["target_tokens"], "generate_ms": ge["result"]["call"]["median_ms"],
            "device_gib": (tr["device_memory"]["peak_gib"] - tr["device_memory"]["before_gib"]) if tr.get("device_memory") else None,
            "ms_per_token": ge["result"]["ms_per_token"]}


def main():
    names = sys.argv[1:] or list(CONFIGS)
    print(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__}))
    rows = []
    for name in names:
        folder, hf = hf_bench(name)
        print(json.dumps({"config": name, "impl": "hf", **hf}), flush=True)
        ours = lmm_bench(name, folder)
        print(json.dumps({"config": name, "impl": "lmmrotate", **ours}), flush=True)
        rows.append((name, hf, ours))
    print("config      | train ms HF / ours | speed-up | generate ms/token HF / ours | speed-up | train device GiB HF / ours")
    for name, hf, ours in rows:
        mem = f"{hf['device_gib']:5.1f} / {ours['device_gib']:5.1f}" if ours.get("device_gib") is not None else "-"
        print(f"{name:11} | {hf['train_ms']:7.1f} / {ours['train_ms']:7.1f} | {hf['train_ms'] / ours['train_ms']:5.2f}x | "
              f"{hf['ms_per_token']:6.2f} / {ours['ms_per_token']:6.2f} | {hf['ms_per_token'] / ours['ms_per_token']:5.2f}x | {mem}")


if __name__ == "__main__":
    main()
