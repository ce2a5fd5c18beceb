"""PaliGemma training speed on one CUDA GPU, lmmrotate (candle plugin) next to HF transformers, on
the same random weights and the same shapes, in one run (about a minute on an H100).

The model: a small PaliGemma made here with transformers (random init, seed 0) — SigLIP 4 layers
of width 256 at 224 px (patch 14: 256 image tokens), Gemma 4 layers of width 512 (8 query heads,
1 key/value head of width 64, MLP 2048), the tiny golden tokenizer (1418 tokens, PaliGemma's
<locNNNN> tokens) — saved to a folder that lmmrotate loads as it is. bf16 weights on both sides.

Measured (each prints a line; all go into $OUT/paligemma_vs_hf.json):
  1. lmmrotate train: the whole pipeline (synthetic 224 px scenes from `lmmrotate data synth`,
     format `paligemma`, host-side image decoding, AdamW with fp32 master weights), STEPS updates
     of BATCH; samples/s over the second half of the run (from log.csv), first and last loss.
  2. lmmrotate train with LoRA (rank 16 on q/k/v/o of the decoder), the same data, about a minute.
  3. lmmrotate bench train: median step at a fixed shape (noise images, a target of TARGET
     tokens measured with the model's tokenizer).
  4. HF transformers at that same shape (prompt, target length, batch): forward + backward +
     torch AdamW (fused) on the bf16 weights, SDPA attention; median of the measured steps.

Usage (device machine, repository root, carry/ from scripts/gpu/build_carry.sh):
    python3 scripts/gpu/paligemma_vs_hf.py [--steps 150] [--batch 8] [--target 64] [--out DIR]
Each lmmrotate command has --timeout seconds (120; a training run is then stopped cleanly with
Ctrl-C and measured on what it did), so the whole run stays within a few minutes.
scripts/gpu/paligemma_train.sh sets the library path up and runs this.
"""

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

TOKENIZER = "plugins/model-paligemma-candle/tests/golden/tiny/native/tokenizer.json"
VOCAB, IMAGE_TOKEN, BOS, EOS, PAD = 1418, 1417, 2, 1, 0
PROMPT = "detect quad"  # the paligemma format's prompt; the processor appends "\n"
SIZE, PATCH = 224, 14
REGISTRY = "scripts/gpu/registry.toml"
LMM = "./carry/lmmrotate"


def log(obj):
    print(json.dumps(obj), flush=True)


def fail(msg):
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def hf_config():
    from transformers import PaliGemmaConfig

    cfg = PaliGemmaConfig(
        vision_config=dict(
            model_type="siglip_vision_model", hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
            num_attention_heads=4, image_size=SIZE, patch_size=PATCH, projection_dim=512, vision_use_head=False,
            hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6,
        ),
        text_config=dict(
            model_type="gemma", vocab_size=VOCAB, hidden_size=512, intermediate_size=2048, num_hidden_layers=4,
            num_attention_heads=8, num_key_value_heads=1, head_dim=64, max_position_embeddings=2048,
            rms_norm_eps=1e-6, rope_theta=10000.0, hidden_act="gelu_pytorch_tanh", pad_token_id=PAD,
            bos_token_id=BOS, eos_token_id=EOS,
        ),
        image_token_index=IMAGE_TOKEN, projection_dim=512, hidden_size=512, pad_token_id=PAD, bos_token_id=BOS,
        eos_token_id=EOS,
    )
    cfg._attn_implementation = "sdpa"
    return cfg


def make_checkpoint(folder):
    """Random weights (seed 0), saved in transformers' layout with the tokenizer and preprocessing."""
    import torch
    from transformers import PaliGemmaForConditionalGeneration

    torch.manual_seed(0)
    model = PaliGemmaForConditionalGeneration(hf_config())
    if os.path.exists(folder):
        shutil.rmtree(folder)
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copy(TOKENIZER, folder)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "SiglipImageProcessor", "size": {"height": SIZE, "width": SIZE},
                   "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "rescale_factor": 1 / 255, "resample": 3}, f)
    return sum(p.numel() for p in model.parameters())


def run(cmd, timeout, env=None):
    """Runs a command; returns stdout, or raises with the tail of what it printed."""
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"exit status {p.returncode}:\n{tail}")
    return p.stdout


def steady_rate(log_csv, batch):
    """Samples/s over the second half of a run, from log.csv's cumulative samples_per_s column
    (t_k = k · batch / rate_k), and the first and last logged loss."""
    with open(log_csv) as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 4:
        raise RuntimeError(f"{log_csv}: only {len(rows)} rows")
    t = [(int(r["step"]), int(r["step"]) * batch / float(r["samples_per_s"])) for r in rows]
    (k1, t1), (k2, t2) = t[len(t) // 2], t[-1]
    return {"samples_per_s": (k2 - k1) * batch / (t2 - t1), "overall_samples_per_s": float(rows[-1]["samples_per_s"]),
            "steps": int(rows[-1]["step"]), "first_loss": float(rows[0]["loss"]), "last_loss": float(rows[-1]["loss"])}


def lmm_train(args, ckpt, data, out_dir, model_config=None, steps=None, seconds=None):
    """`lmmrotate train`; stopped with Ctrl-C (it saves and exits cleanly) after `seconds`, in
    which case the rate comes from the updates done by then."""
    cmd = [LMM, "-q", "--registry", REGISTRY, "train", "--model", "paligemma", "--checkpoint", ckpt, "--format",
           "paligemma", "--dataset", "synthetic", "--dataset-root", data, "--output_dir", out_dir, "--max_steps",
           str(steps or args.steps), "--per_device_train_batch_size", str(args.batch), "--gradient_accumulation_steps",
           "1", "--learning_rate", "1e-4", "--warmup_ratio", "0", "--lr_scheduler_type", "constant", "--save_steps",
           "1000000", "--bf16", "--prefetch", "8", "--device", args.device]
    if model_config:
        cmd += ["--model-config", json.dumps(model_config)]
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stopped = False
    try:
        output, _ = proc.communicate(timeout=seconds or args.timeout)
    except subprocess.TimeoutExpired:
        stopped = True
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    if proc.returncode != 0 and not stopped:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise RuntimeError(f"exit status {proc.returncode}:\n{tail}")
    res = steady_rate(os.path.join(out_dir, "log.csv"), args.batch)
    res["wall_s"] = time.time() - t0
    res["stopped_at_time_limit"] = stopped
    res["summary"] = [line for line in output.splitlines() if line.startswith("done:")]
    return res


def lmm_bench(args, ckpt):
    cfg = json.dumps({"checkpoint": ckpt, "dtype": "bf16", "device": args.device})
    out = run([LMM, "-q", "--registry", REGISTRY, "bench", "train", "--model", "paligemma", "--model-config", cfg,
               "--batch", str(args.batch), "--target-tokens", str(args.target), "--task", PROMPT, "--steps",
               str(args.bench_steps), "--warmup", "3", "--json"], timeout=args.timeout)
    r = json.loads(out.strip().splitlines()[-1])
    res = r["result"]
    return {"step_ms": res["step"]["median_ms"], "samples_per_s": res["samples_per_second"],
            "target_tokens": res["target_tokens"], "backend": r.get("backend"), "device": r.get("device"),
            "parameters": r.get("parameters")}


def hf_bench(args, ckpt, target_tokens):
    """The same step in transformers: a batch of `<image>`×256 `<bos>` prompt `\\n` + a target of
    `target_tokens` (with `<eos>`), labels on the target, token_type_ids marking it."""
    import torch
    from tokenizers import Tokenizer
    from transformers import PaliGemmaForConditionalGeneration

    dev = torch.device(args.device)
    model = PaliGemmaForConditionalGeneration.from_pretrained(ckpt, dtype=torch.bfloat16, attn_implementation="sdpa").to(dev)
    model.train()
    prompt = Tokenizer.from_file(TOKENIZER).encode(PROMPT + "\n", add_special_tokens=False).ids
    n_img = (SIZE // PATCH) ** 2
    g = torch.Generator().manual_seed(7)
    target = torch.randint(3, 1400, (args.batch, target_tokens - 1), generator=g)
    prefix = torch.tensor([IMAGE_TOKEN] * n_img + [BOS] + prompt).expand(args.batch, -1)
    ids = torch.cat([prefix, target, torch.full((args.batch, 1), EOS)], 1)
    labels = ids.clone()
    labels[:, : prefix.shape[1]] = -100
    token_type = torch.zeros_like(ids)
    token_type[:, prefix.shape[1]:] = 1
    batch = {"input_ids": ids.to(dev), "attention_mask": torch.ones_like(ids).to(dev), "token_type_ids": token_type.to(dev),
             "labels": labels.to(dev),
             "pixel_values": torch.randn(args.batch, 3, SIZE, SIZE, generator=g).to(dev, torch.bfloat16)}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda")
    losses = []

    def step():
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())  # synchronises, as lmmrotate's step returns its loss

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(3):
        step()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync()
    times = []
    for _ in range(args.bench_steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    res = {"step_ms": ms, "samples_per_s": args.batch / ms * 1e3, "target_tokens": target_tokens,
           "sequence_length": ids.shape[1], "first_loss": losses[0], "last_loss": losses[-1],
           "torch": torch.__version__, "transformers": __import__("transformers").__version__}
    if dev.type == "cuda":
        res["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    del model, opt
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=int(os.environ.get("STEPS", 150)), help="updates of lmmrotate train")
    ap.add_argument("--batch", type=int, default=int(os.environ.get("BATCH", 8)))
    ap.add_argument("--target", type=int, default=int(os.environ.get("TARGET", 64)), help="target tokens (bench, HF)")
    ap.add_argument("--bench-steps", type=int, default=20, help="measured steps of the fixed-shape benchmarks")
    ap.add_argument("--images", type=int, default=1024, help="synthetic training scenes")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--timeout", type=int, default=120,
                    help="seconds per lmmrotate command (a training run is stopped cleanly then and measured)")
    ap.add_argument("--out", default=os.environ.get("OUT", "out"))
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "lmm_paligemma"))
    args = ap.parse_args()

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        fail("torch sees no CUDA device (use --device cpu for a smoke test)")
    for f in [LMM, TOKENIZER, REGISTRY]:
        if not os.path.exists(f):
            fail(f"{f} is missing (run from the repository root; carry/ comes from scripts/gpu/build_carry.sh)")
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    report = {"gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu", "batch": args.batch,
              "image_size": SIZE, "dtype": "bf16", "errors": {}}
    log({k: report[k] for k in ["gpu", "batch", "image_size"]})

    # The PaliGemma plugins must load, the model with CUDA (a CPU-only build reports "no cuda").
    # `lmmrotate plugins` exits 1 when any plugin of the registry fails: only these matter here.
    try:
        p = subprocess.run([LMM, "--registry", REGISTRY, "plugins"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        fail("`lmmrotate plugins` did not finish in 120 s")
    lines = (p.stdout + p.stderr).splitlines()
    mine = [i for i, l in enumerate(lines) if l.split()[:2] in (["model", "paligemma"], ["format", "paligemma"])]
    report["plugin"] = [lines[i] for i in mine]
    print("\n".join(report["plugin"]))
    if len(mine) != 2 or any(lines[i].split()[4] != "ok" for i in mine):
        detail = "\n".join(lines[i] + ("\n" + lines[i + 1] if i + 1 < len(lines) else "") for i in mine) or "\n".join(lines[-10:])
        fail(f"the paligemma model and format plugins do not both load:\n{detail}")
    if args.device.startswith("cuda") and any("no cuda" in lines[i] for i in mine):
        fail("carry/liblmmrotate_model_paligemma_candle.so was built without CUDA "
             "(build it with scripts/gpu/build_paligemma_cuda.sh --carry)")

    ckpt = os.path.join(args.work, "checkpoint")
    report["parameters"] = make_checkpoint(ckpt)
    log({"checkpoint": ckpt, "parameters": report["parameters"]})
    data = os.path.join(args.work, "train")
    try:
        run([LMM, "-q", "--registry", REGISTRY, "data", "synth", "--out", data, "--images", str(args.images), "--size",
             str(SIZE), "--seed", "1", "--scene", '{"min_objects":2,"max_objects":6}'], timeout=args.timeout)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        fail(f"data synth failed: {e}")

    def lora():
        # At most half the updates, and about a minute at the full run's rate.
        rate = report.get("lmmrotate_train", {}).get("samples_per_s", 0.0)
        steps = max(8, min(args.steps // 2, int(60 * rate / args.batch)))
        return lmm_train(args, ckpt, data, os.path.join(args.work, "run_lora"), {"lora": {"rank": 16, "alpha": 32}}, steps)

    parts = [
        ("lmmrotate_train", lambda: lmm_train(args, ckpt, data, os.path.join(args.work, "run"))),
        ("lmmrotate_train_lora", lora),
        ("lmmrotate_bench", lambda: lmm_bench(args, ckpt)),
    ]
    for name, fn in parts:
        try:
            report[name] = fn()
            log({name: report[name]})
        except Exception as e:  # noqa: BLE001 - a failed part is recorded, the others still run
            report["errors"][name] = str(e)
            print(f"error in {name}: {e}", file=sys.stderr, flush=True)
    target = report.get("lmmrotate_bench", {}).get("target_tokens", args.target)
    try:
        report["hf"] = hf_bench(args, ckpt, target)
        log({"hf": report["hf"]})
    except Exception as e:  # noqa: BLE001
        report["errors"]["hf"] = f"{e}\n{traceback.format_exc()}"
        print(f"error in hf: {e}", file=sys.stderr, flush=True)

    out = os.path.join(args.out, "paligemma_vs_hf.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nbatch {args.batch}, {SIZE} px, bf16; written to {out}")
    print("what                                  | samples/s | step ms")
    for name, key in [("lmmrotate train (pipeline, 2nd half)", "lmmrotate_train"),
                      ("lmmrotate train, LoRA r16", "lmmrotate_train_lora"),
                      (f"lmmrotate bench ({target} target tokens)", "lmmrotate_bench"),
                      (f"HF transformers ({target} target tokens)", "hf")]:
        r = report.get(key)
        if r:
            ms = r.get("step_ms")
            print(f"{name:37} | {r['samples_per_s']:9.1f} | {'' if ms is None else f'{ms:7.1f}'}")
        else:
            print(f"{name:37} | failed: {report['errors'].get(key, '?').splitlines()[0]}")
    if "hf" in report and "lmmrotate_bench" in report:
        print(f"speed-up at the fixed shape (HF step / lmmrotate step): "
              f"{report['hf']['step_ms'] / report['lmmrotate_bench']['step_ms']:.2f}x")
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()
