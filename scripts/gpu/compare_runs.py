"""Compares two lmmrotate training runs: the loss column of their log.csv files and, when both
folders hold one, the weights of their model.safetensors. Prints one line of JSON.

usage: compare_runs.py RUN_A RUN_B [LABEL]
"""
import csv, json, os, sys

import torch
from safetensors.torch import load_file


def losses(run):
    with open(os.path.join(run, "log.csv")) as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


a, b = sys.argv[1], sys.argv[2]
la, lb = losses(a), losses(b)
out = {
    "label": sys.argv[3] if len(sys.argv) > 3 else f"{a} vs {b}",
    "steps": [len(la), len(lb)],
    "loss_first_last": [la[0], la[-1]],
    "max_loss_diff": max(abs(x - y) for x, y in zip(la, lb)),
    "max_rel_loss_diff": max(abs(x - y) / abs(x) for x, y in zip(la, lb)),
}
wa, wb = os.path.join(a, "model.safetensors"), os.path.join(b, "model.safetensors")
if os.path.exists(wa) and os.path.exists(wb):
    ta, tb = load_file(wa), load_file(wb)
    out["max_weight_diff"] = max((ta[k].float() - tb[k].float()).abs().max().item() for k in ta)
print(json.dumps(out))
