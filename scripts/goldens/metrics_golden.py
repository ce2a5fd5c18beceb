"""Independent re-derivation of mmrotate's eval_rbbox_map / tpfp_default / average_precision and
LMMRotate's f1_metric.py (upstream.md §7.1, §7.2) with numpy + shapely, on a small seeded random
dataset. Writes framework/metrics/tests/golden/metrics_small.json, which the Rust test
`framework/metrics/tests/golden.rs` evaluates and compares against.

Regenerate (from the repository root):
    .venv/bin/pip install numpy shapely
    .venv/bin/python scripts/goldens/metrics_golden.py

Tie order: argsorts use kind="stable" — the deterministic order the Rust crate documents (upstream's
default NumPy introsort is not stable).
"""
import json
import math
import pathlib
import random

import numpy as np
from shapely.geometry import Polygon

NUM_CLASSES = 3
IOU_THR = 0.5
OUT = pathlib.Path(__file__).resolve().parents[2] / "framework/metrics/tests/golden/metrics_small.json"


def corners(b):
    cx, cy, w, h, t = b
    c, s = math.cos(t), math.sin(t)
    v1 = (w / 2 * c, w / 2 * s)
    v2 = (-h / 2 * s, h / 2 * c)
    return [(cx + v1[0] + v2[0], cy + v1[1] + v2[1]), (cx + v1[0] - v2[0], cy + v1[1] - v2[1]),
            (cx - v1[0] - v2[0], cy - v1[1] - v2[1]), (cx - v1[0] + v2[0], cy - v1[1] + v2[1])]


def iou(a, b):
    pa, pb = Polygon(corners(a)), Polygon(corners(b))
    inter = pa.intersection(pb).area
    union = pa.area + pb.area - inter
    return inter / union if union > 0 else 0.0


def make_data(seed=7, n_images=30):
    rng = random.Random(seed)
    images = []
    for i in range(n_images):
        gts = []
        for _ in range(rng.randint(0, 8)):
            gts.append((rng.randrange(NUM_CLASSES), [rng.uniform(0, 300), rng.uniform(0, 300),
                        rng.uniform(10, 60), rng.uniform(5, 30), rng.uniform(-1.5, 1.5)]))
        ignored = []
        if gts and rng.random() < 0.2:
            c, b = gts.pop()
            ignored.append((c, b))
        dets = []
        pool = gts + ignored
        for _ in range(rng.randint(0, 10)):
            if pool and rng.random() < 0.7:
                c, b = rng.choice(pool)
                if rng.random() < 0.15:
                    c = rng.randrange(NUM_CLASSES)
                b = [b[0] + rng.uniform(-6, 6), b[1] + rng.uniform(-6, 6), b[2] * rng.uniform(0.7, 1.3),
                     b[3] * rng.uniform(0.7, 1.3), b[4] + rng.uniform(-0.3, 0.3)]
            else:
                c = rng.randrange(NUM_CLASSES)
                b = [rng.uniform(0, 300), rng.uniform(0, 300), rng.uniform(10, 60), rng.uniform(5, 30), rng.uniform(-1.5, 1.5)]
            dets.append((c, b, round(rng.random(), 3)))
        images.append({"id": f"img{i:03d}", "gts": gts, "ignored": ignored, "dets": dets})
    return images


def tpfp(dets, gts, gts_ignore):
    """mmrotate tpfp_default with area_ranges=None. dets: list of (box, score)."""
    n_d = len(dets)
    tp = np.zeros(n_d, dtype=np.float32)
    fp = np.zeros(n_d, dtype=np.float32)
    all_gts = gts + gts_ignore
    ignore = np.array([False] * len(gts) + [True] * len(gts_ignore))
    if len(all_gts) == 0:
        fp[...] = 1
        return tp, fp
    ious = np.array([[iou(d, g) for g in all_gts] for d, _ in dets]).reshape(n_d, len(all_gts))
    ious_max = ious.max(axis=1) if n_d else np.zeros(0)
    ious_argmax = ious.argmax(axis=1) if n_d else np.zeros(0, dtype=int)
    sort_inds = np.argsort(-np.array([s for _, s in dets], dtype=np.float32), kind="stable")
    covered = np.zeros(len(all_gts), dtype=bool)
    for i in sort_inds:
        if ious_max[i] >= IOU_THR:
            m = ious_argmax[i]
            if not ignore[m]:
                if not covered[m]:
                    covered[m] = True
                    tp[i] = 1
                else:
                    fp[i] = 1
        else:
            fp[i] = 1
    return tp, fp


def average_precision(recalls, precisions, mode):
    if mode == "area":
        mrec = np.hstack(([0.0], recalls, [1.0]))
        mpre = np.hstack(([0.0], precisions, [0.0]))
        for i in range(len(mpre) - 1, 0, -1):
            mpre[i - 1] = max(mpre[i - 1], mpre[i])
        ind = np.where(mrec[1:] != mrec[:-1])[0]
        return float(np.sum((mrec[ind + 1] - mrec[ind]) * mpre[ind + 1]))
    ap = 0.0
    for thr in np.arange(0, 1 + 1e-3, 0.1):
        precs = precisions[recalls >= thr]
        ap += precs.max() if precs.size > 0 else 0
    return float(ap / 11)


def eval_map(images, use_scores):
    aps = {"11points": [], "area": []}
    for c in range(NUM_CLASSES):
        tps, fps, scores, num_gts = [], [], [], 0
        for im in images:
            dets = [(b, s if use_scores else 1.0) for k, b, s in im["dets"] if k == c]
            gts = [b for k, b in im["gts"] if k == c]
            ign = [b for k, b in im["ignored"] if k == c]
            num_gts += len(gts)
            tp, fp = tpfp(dets, gts, ign)
            tps.append(tp)
            fps.append(fp)
            scores += [s for _, s in dets]
        if num_gts == 0:
            continue
        order = np.argsort(-np.array(scores, dtype=np.float32), kind="stable")
        tp = np.cumsum(np.hstack(tps)[order]).astype(np.float64)
        fp = np.cumsum(np.hstack(fps)[order]).astype(np.float64)
        eps = np.finfo(np.float32).eps
        recalls = tp / max(num_gts, eps)
        precisions = tp / np.maximum(tp + fp, eps)
        for mode in aps:
            aps[mode].append(average_precision(recalls, precisions, mode))
    return {m: float(np.mean(v)) if v else 0.0 for m, v in aps.items()}


def eval_f1(images):
    C = NUM_CLASSES
    cm = np.zeros((C + 1, C + 1), dtype=np.int64)
    for im in images:
        matched = np.zeros(len(im["gts"]), dtype=np.int64)
        for k, b, _ in im["dets"]:
            hit = False
            for j, (gk, gb) in enumerate(im["gts"]):
                if iou(b, gb) >= IOU_THR:
                    cm[gk, k] += 1
                    hit = True
                    if gk == k:
                        matched[j] += 1
            if not hit:
                cm[C, k] += 1
        for j, (gk, _) in enumerate(im["gts"]):
            if matched[j] == 0:
                cm[gk, C] += 1
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    safe = lambda a: np.where(a == 0, 1, a)
    p = tp / safe(tp + fp)
    r = tp / safe(tp + fn)
    out = {}
    for name, sl in (("", slice(None)), ("_no_background", slice(0, C))):
        mp, mr = float(p[sl].mean()), float(r[sl].mean())
        out["mf1" + name] = 2 * mp * mr / (mp + mr) if mp + mr > 0 else 0.0
        out["mean_precision" + name] = mp
        out["mean_recall" + name] = mr
    out["confusion_matrix"] = cm.tolist()
    return out


def main():
    images = make_data()
    nc = eval_map(images, use_scores=False)
    sc = eval_map(images, use_scores=True)
    expected = {"map_nc_11points": nc["11points"], "map_nc_area": nc["area"],
                "map_11points": sc["11points"], "map_area": sc["area"], **eval_f1(images)}
    doc = {
        "_comment": "Generated by scripts/goldens/metrics_golden.py (numpy + shapely re-derivation of mmrotate "
                    "eval_rbbox_map and LMMRotate f1_metric.py, stable tie order); do not edit by hand.",
        "classes": [f"c{k}" for k in range(NUM_CLASSES)],
        "images": [{"id": im["id"],
                    "gts": [{"class": k, "rbox": b} for k, b in im["gts"]],
                    "ignored": [{"class": k, "rbox": b} for k, b in im["ignored"]],
                    "dets": [{"class": k, "rbox": b, "score": s} for k, b, s in im["dets"]]} for im in images],
        "expected": expected,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}: {json.dumps(expected)}")


if __name__ == "__main__":
    main()
