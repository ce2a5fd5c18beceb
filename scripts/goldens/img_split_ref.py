"""Independent re-derivation of mmrotate's img_split (tools/data/dota/split/img_split.py) and of
upstream LMMRotate's "balanced concat" epoch order, to produce the goldens of lmmrotate-datatools.

Written from the behaviour described in shared/reference/upstream.md §3.4-3.5 with numpy, shapely
and PIL (mmrotate itself is not installed here). PIL reads RGB where mmrotate's cv2 reads BGR, so
the padding value (BGR 104,116,124) is applied reversed.

Regenerate (writes framework/datatools/tests/golden/):
    .venv/bin/pip install numpy shapely pillow
    .venv/bin/python scripts/goldens/img_split_ref.py            # fixtures + expected outputs
    .venv/bin/python scripts/goldens/img_split_ref.py --bench SRC RUST_OUT PY_OUT
        # 1024/200 split of SRC/{images,annfiles} written with PIL to PY_OUT (timed, one process),
        # then compared with the Rust split in RUST_OUT (pixels and annotation lines)
"""
import itertools
import json
import math
import os
import random
import sys

import numpy as np
from PIL import Image
from shapely.geometry import Polygon

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "framework", "datatools", "tests", "golden")
SIZES, GAPS, RATES = [128], [32], [1.0, 2.0]
IMG_RATE_THR, IOF_THR = 0.6, 0.7
PAD_BGR = (104, 116, 124)


def fnv1a64(data: bytes) -> str:
    """FNV-1a 64 of the raw RGB bytes (pure Python: slow on big patches, exact everywhere)."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def tiled_image(w, h, salt):
    """Blocky 6-px tiles: compress to a few KB yet expose any off-by-one in a crop."""
    ys, xs = np.mgrid[0:h, 0:w]
    tx, ty = xs // 6, ys // 6
    img = np.stack([(tx * 37 + ty * 91 + salt) % 256, (tx * 11 + salt * 3) % 256, (ty * 53 + tx * 7) % 256], axis=-1)
    return img.astype(np.uint8)


def make_fixtures(inp):
    os.makedirs(os.path.join(inp, "images"), exist_ok=True)
    os.makedirs(os.path.join(inp, "annfiles"), exist_ok=True)
    # A: 300x220, several windows at two scales; objects across window borders.
    Image.fromarray(tiled_image(300, 220, 1)).save(os.path.join(inp, "images", "A.png"))
    with open(os.path.join(inp, "annfiles", "A.txt"), "w") as f:
        f.write("imagesource:GoogleEarth\ngsd:0.5\n")
        f.write("10 10 50 10 50 40 10 40 plane 0\n")           # inside the first windows
        f.write("110 20 150 20 150 60 110 60 ship 1\n")        # across x = 128
        f.write("90.5 100 135 92 140 120 95 128.5 small-vehicle 0\n")  # rotated, across borders
        f.write("180 150 290 160 285 210 175 200 harbor 0\n")  # large, right bottom
        f.write("60 180 70 170 80 180 70 190 storage-tank 0\n")
        f.write("200 5 230 5 230 15 200 15 plane 1\n")
    # B: 100x90, smaller than a 128 window, which is dropped since the 64 px windows pass 0.6.
    Image.fromarray(tiled_image(100, 90, 2)).save(os.path.join(inp, "images", "B.png"))
    with open(os.path.join(inp, "annfiles", "B.txt"), "w") as f:
        f.write("20 20 60 20 60 50 20 50 ship 0\n")
        f.write("80 70 120 70 120 95 80 95 plane 0\n")          # beyond the image border
        f.write("55 5 70 5 70 30 55 30 tennis-court\n")         # no difficulty field
    # C: 50x45, smaller than every window: no window passes 0.6, the best (64 px) is kept by the
    # 0.01-of-max rule and padded.
    Image.fromarray(tiled_image(50, 45, 3)).save(os.path.join(inp, "images", "C.png"))
    with open(os.path.join(inp, "annfiles", "C.txt"), "w") as f:
        f.write("5 5 25 8 22 30 3 27 ship 0\n")
        f.write("30 30 60 30 60 44 30 44 small-vehicle 0\n")     # crosses the image border


def load_ann(path):
    bboxes, labels, diffs = [], [], []
    with open(path) as f:
        for line in f:
            if line.startswith("gsd"):
                continue
            items = line.split()
            if len(items) >= 9:
                bboxes.append([float(i) for i in items[:8]])
                labels.append(items[8])
                diffs.append(int(items[9]) if len(items) == 10 else 0)
    bboxes = np.array(bboxes, dtype=np.float32) if bboxes else np.zeros((0, 8), dtype=np.float32)
    return bboxes, labels, np.array(diffs, dtype=np.int64)


def sliding_windows(w, h, sizes, gaps, thr):
    windows = []
    for size, gap in zip(sizes, gaps):
        step = size - gap
        xn = 1 if w <= size else math.ceil((w - size) / step + 1)
        xs = [step * i for i in range(xn)]
        if len(xs) > 1 and xs[-1] + size > w:
            xs[-1] = w - size
        yn = 1 if h <= size else math.ceil((h - size) / step + 1)
        ys = [step * i for i in range(yn)]
        if len(ys) > 1 and ys[-1] + size > h:
            ys[-1] = h - size
        start = np.array(list(itertools.product(xs, ys)), dtype=np.int64)
        windows.append(np.concatenate([start, start + size], axis=1))
    windows = np.concatenate(windows, axis=0)
    inw = windows.copy()
    inw[:, 0::2] = np.clip(inw[:, 0::2], 0, w)
    inw[:, 1::2] = np.clip(inw[:, 1::2], 0, h)
    rates = ((inw[:, 2] - inw[:, 0]) * (inw[:, 3] - inw[:, 1])) / ((windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1]))
    if not (rates > thr).any():
        rates[abs(rates - rates.max()) < 0.01] = 1
    return windows[rates > thr]


def iofs(bboxes, windows):
    out = np.zeros((len(bboxes), len(windows)))
    if len(bboxes) == 0:
        return out
    xs, ys = bboxes[:, 0::2], bboxes[:, 1::2]
    hb = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)[:, None, :]
    lt = np.maximum(hb[..., :2], windows[..., :2])
    rb = np.minimum(hb[..., 2:], windows[..., 2:])
    wh = np.clip(rb - lt, 0, np.inf)
    hov = wh[..., 0] * wh[..., 1]
    polys = [Polygon(p) for p in bboxes.reshape(-1, 4, 2)]
    wins = [Polygon([(l, t), (r, t), (r, b), (l, b)]) for l, t, r, b in windows]
    for i, j in zip(*np.nonzero(hov)):
        out[i, j] = polys[i].intersection(wins[j]).area
    areas = np.clip(np.array([p.area for p in polys], dtype=np.float32)[:, None], 1e-6, np.inf)
    return out / areas


def split(inp, sizes_, gaps_, rates_, save=None):
    sizes, gaps = [], []
    for r in rates_:
        sizes += [int(s / r) for s in sizes_]
        gaps += [int(g / r) for g in gaps_]
    result = {}
    for fn in sorted(os.listdir(os.path.join(inp, "images"))):
        img_id = os.path.splitext(fn)[0]
        img = np.asarray(Image.open(os.path.join(inp, "images", fn)).convert("RGB"))
        h, w = img.shape[:2]
        bboxes, labels, diffs = load_ann(os.path.join(inp, "annfiles", img_id + ".txt"))
        windows = sliding_windows(w, h, sizes, gaps, IMG_RATE_THR)
        io = iofs(bboxes, windows)
        for k, (x0, y0, x1, y1) in enumerate(windows.tolist()):
            name = f"{img_id}__{x1 - x0}__{x0}___{y0}"
            keep = np.nonzero(io[:, k] >= IOF_THR)[0]
            lines = []
            for i in keep:
                pts = bboxes[i] + np.array([-x0, -y0] * 4, dtype=np.float32)
                diff = "2" if io[i, k] < 1 else str(diffs[i])
                lines.append(" ".join(map(str, pts)) + " " + labels[i] + " " + diff)
            patch = img[y0:y1, x0:x1]
            if patch.shape[0] < y1 - y0 or patch.shape[1] < x1 - x0:
                padded = np.empty((y1 - y0, x1 - x0, 3), dtype=np.uint8)
                padded[...] = PAD_BGR[::-1]
                padded[: patch.shape[0], : patch.shape[1]] = patch
                patch = padded
            if save:
                # Benchmark mode: write the patch as mmrotate does and keep it for comparison.
                Image.fromarray(patch).save(os.path.join(save, name + ".png"))
                result[name] = {"pixels": patch, "ann": lines}
                continue
            result[name] = {"width": patch.shape[1], "height": patch.shape[0],
                            "fnv1a64": fnv1a64(np.ascontiguousarray(patch).tobytes()), "ann": lines}
    return result


def balanced(sizes, epoch):
    """Upstream's balanced concat over datasets of `sizes`, as global indices."""
    subsets, off = [], 0
    for n in sizes:
        subsets.append(list(range(off, off + n)))
        off += n
    total = sum(sizes)
    m = math.ceil(total / len(sizes))
    subsets = [s * math.ceil(m / len(s)) for s in subsets]
    rnd = random.Random(epoch)
    out = []
    for s in subsets:
        out += rnd.sample(s, m)
    rnd.shuffle(out)
    return out[:total]


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--bench":
        import time
        src, rust_out, py_out = sys.argv[2:]
        os.makedirs(os.path.join(py_out, "images"), exist_ok=True)
        t = time.time()
        ref = split(src, [1024], [200], [1.0], save=os.path.join(py_out, "images"))
        print(f"reference split: {len(ref)} patches in {time.time() - t:.2f} s")
        diff = 0
        for name, p in ref.items():
            img = np.asarray(Image.open(os.path.join(rust_out, "images", name + ".png")).convert("RGB"))
            with open(os.path.join(rust_out, "annfiles", name + ".txt")) as f:
                ann = f.read().splitlines()
            if not (np.array_equal(img, p["pixels"]) and ann == p["ann"]):
                diff += 1
                print("differs:", name)
        extra = set(os.path.splitext(f)[0] for f in os.listdir(os.path.join(rust_out, "images"))) - set(ref)
        print(f"{len(ref) - diff} of {len(ref)} patches identical; {len(extra)} extra patches in the Rust output")
        return
    inp = os.path.join(ROOT, "split", "input")
    make_fixtures(inp)
    expected = split(inp, SIZES, GAPS, RATES)
    with open(os.path.join(ROOT, "split", "expected.json"), "w") as f:
        json.dump({"sizes": SIZES, "gaps": GAPS, "rates": RATES, "patches": expected}, f, indent=1, sort_keys=True)
    cases = [([5, 3], [0, 1, 7]), ([10, 2, 7], [0, 3]), ([100, 40], [1]), ([2000, 10], [2]),
             ([100] + [1] * 29, [0, 11]), ([1], [0]), ([3, 3, 3], [123456789012])]
    gold = [{"sizes": s, "epoch": e, "indices": balanced(s, e)} for s, es in cases for e in es]
    with open(os.path.join(ROOT, "balanced.json"), "w") as f:
        json.dump(gold, f)


if __name__ == "__main__":
    main()
