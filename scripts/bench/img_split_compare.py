"""Helper of img_split_vs_mmrotate.sh: writes the edge-case inputs and compares two split outputs.

    python img_split_compare.py edge-inputs OUT SAMPLE_DIR   # OUT/{images,annfiles} of awkward inputs
    python img_split_compare.py compare MMROTATE_OUT LMMROTATE_OUT [--known INPUT_DIR]

`compare` decodes every patch of both outputs with cv2 (IMREAD_UNCHANGED, so nothing is converted
on the way) and compares the arrays, and compares the annotation files line by line: first as
bytes, then as parsed numbers (float32, as both sides compute) plus label and difficulty. It prints
one summary line per category and exits 1 when anything differs. With --known INPUT_DIR (the
split's input), the two differences explained in docs/BENCHMARKS.md are counted but do not fail:
mmrotate's label-newline bug (`known_mmrotate_bug`) and patches of JPEG inputs (OpenCV decodes
with libjpeg-turbo, lmmrotate with the image crate; the pixels may differ by a few levels).
"""
import os
import sys

import cv2
import numpy as np


def edge_inputs(out, sample_dir):
    """Inputs that exercise image decoding and annotation parsing rather than speed."""
    imgs, anns = os.path.join(out, "images"), os.path.join(out, "annfiles")
    os.makedirs(imgs)
    os.makedirs(anns)
    rng = np.random.default_rng(7)

    def ann(name, text, newline="\n"):
        with open(os.path.join(anns, name + ".txt"), "w", newline="") as f:
            f.write(text.replace("\n", newline))

    # mmrotate's own RGBA test patch, with objects reaching past the border.
    for sub, ext in (("images", ".png"), ("labelTxt", ".txt")):
        src = os.path.join(sample_dir, sub, "P2805__1024__0___0" + ext)
        dst = os.path.join(imgs if sub == "images" else anns, "E0000" + ext)
        with open(src, "rb") as a, open(dst, "wb") as b:
            b.write(a.read())
    # Grayscale, 1100 x 900: two columns of windows, the second moved back; padded rows.
    cv2.imwrite(os.path.join(imgs, "E0001.png"), rng.integers(0, 256, (900, 1100), dtype=np.uint8))
    ann("E0001", "imagesource:GoogleEarth\ngsd:0.5\n"
        "100 100 200 100 200 150 100 150 ship 0\n"
        "1000.5 800 1090 800 1090 880 1000.5 880 harbor 1\n"
        # Straddles the x = 76 / x = 1024 window borders: truncated (difficulty 2) in one window.
        "1000 10 1060 10 1060 40 1000 40 plane 0\n", newline="\r\n")
    # 16-bit RGB, 700 x 1500 (narrower than a window: padding on the right).
    cv2.imwrite(os.path.join(imgs, "E0002.png"), rng.integers(0, 65536, (1500, 700, 3), dtype=np.uint16))
    ann("E0002", "10 10 60 10 60 60 10 60 small-vehicle 0\n650 1400 720 1400 720 1450 650 1450 large-vehicle 0\n")
    # A line without a difficulty (allowed by both readers, default 0).
    cv2.imwrite(os.path.join(imgs, "E0003.png"), rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
    ann("E0003", "5 5 50 5 50 50 5 50 plane\n60 60 90 60 90 90 60 90 ship 0\n")
    # A palette PNG (colour type 3).
    from PIL import Image
    Image.fromarray(rng.integers(0, 16, (600, 800), dtype=np.uint8), mode="P").save(os.path.join(imgs, "E0004.png"))
    ann("E0004", "1 1 30 1 30 30 1 30 bridge 0\n")
    # 16-bit grayscale.
    cv2.imwrite(os.path.join(imgs, "E0005.png"), rng.integers(0, 65536, (1030, 1030), dtype=np.uint16))
    ann("E0005", "1 1 30 1 30 30 1 30 bridge 0\n")
    # The other extensions mmrotate accepts: TIFF (FAIR1M's originals), BMP, and a real JPEG
    # (DIOR's sample; JPEG decoders may differ in rounding).
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (1200, 1300, 3), dtype=np.uint8), (0, 0), 3)
    cv2.imwrite(os.path.join(imgs, "E0006.tif"), smooth)
    ann("E0006", "900 900 1100 900 1100 1100 900 1100 plane 0\n")
    cv2.imwrite(os.path.join(imgs, "E0007.bmp"), smooth[:700])
    ann("E0007", "")
    jpg = os.path.join(sample_dir, "..", "dior", "JPEGImage", "00001.jpg")
    with open(jpg, "rb") as a, open(os.path.join(imgs, "E0008.jpg"), "wb") as b:
        b.write(a.read())
    ann("E0008", "10 10 100 10 100 100 10 100 ship 0\n")


def read_lines(path):
    with open(path, "rb") as f:
        return f.read()


def known_mmrotate_bug(a_text, b_text):
    """mmrotate splits lines with `line.split(' ')`: for a line with no difficulty the label keeps
    its line ending, and the patch line is written as `... label\\n 0`. Undo that and compare."""
    fixed = a_text.replace(b"\r\n 0\n", b" 0\n").replace(b"\n 0\n", b" 0\n")
    return fixed != a_text and fixed == b_text


def parse(text):
    rows = []
    for line in text.decode().splitlines():
        f = line.split()
        if not f:
            continue
        rows.append((tuple(np.float32(v) for v in f[:8]), f[8:]))
    return rows


def jpeg_sources(input_dir):
    """Ids of the JPEG images of a split input (their patches are `{id}__...`)."""
    if input_dir is None:
        return set()
    names = os.listdir(os.path.join(input_dir, "images"))
    return {os.path.splitext(n)[0] for n in names if os.path.splitext(n)[1] in (".jpg", ".JPG")}


def compare(a_dir, b_dir, input_dir):
    allow_known = input_dir is not None
    jpegs = jpeg_sources(input_dir)
    bad = 0
    a_imgs, b_imgs = (sorted(os.listdir(os.path.join(d, "images"))) for d in (a_dir, b_dir))
    a_anns, b_anns = (sorted(os.listdir(os.path.join(d, "annfiles"))) for d in (a_dir, b_dir))
    for what, a, b in (("patch images", a_imgs, b_imgs), ("annfiles", a_anns, b_anns)):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        if only_a or only_b:
            bad += 1
            print(f"{what}: only in mmrotate {only_a[:5]} ({len(only_a)}), only in lmmrotate {only_b[:5]} ({len(only_b)})")
    same_px, diff_px, jpeg_px = 0, [], []
    for name in sorted(set(a_imgs) & set(b_imgs)):
        a = cv2.imread(os.path.join(a_dir, "images", name), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(os.path.join(b_dir, "images", name), cv2.IMREAD_UNCHANGED)
        if a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b):
            same_px += 1
        else:
            detail = f"{a.shape}/{a.dtype} vs {b.shape}/{b.dtype}"
            if a.shape == b.shape:
                d = np.abs(a.astype(np.int64) - b.astype(np.int64))
                detail += f", {np.count_nonzero(d)} values differ, max |diff| {d.max()}"
            (jpeg_px if name.split("__")[0] in jpegs else diff_px).append(f"{name}: {detail}")
    print(f"pixels: {same_px} of {len(set(a_imgs) & set(b_imgs))} patches identical"
          + (f", {len(jpeg_px)} of JPEG inputs differ (decoders)" if jpeg_px else ""))
    for d in diff_px[:10]:
        print("  differs:", d)
    for d in jpeg_px[:10]:
        print("  differs (JPEG input):", d)
    bad += bool(diff_px)
    same_bytes = same_values = known = 0
    diff_ann = []
    common = sorted(set(a_anns) & set(b_anns))
    for name in common:
        a, b = (read_lines(os.path.join(d, "annfiles", name)) for d in (a_dir, b_dir))
        if a == b:
            same_bytes += 1
        elif known_mmrotate_bug(a, b):
            known += 1
        elif parse(a) == parse(b):
            same_values += 1
        else:
            diff_ann.append(f"{name}:\n    mmrotate  {a!r}\n    lmmrotate {b!r}")
    lines = sum(len(parse(read_lines(os.path.join(b_dir, "annfiles", n)))) for n in common)
    print(f"annfiles: {len(common)} compared ({lines} object lines): {same_bytes} byte-identical, "
          f"{same_values} equal up to number formatting, {known} differ only by mmrotate's label-newline bug, "
          f"{len(diff_ann)} differ")
    for d in diff_ann[:10]:
        print("  differs:", d)
    bad += bool(diff_ann) + (known > 0 and not allow_known)
    known_parts = [f"{n} {what}" for n, what in ((known, "annfile(s) with mmrotate's label-newline bug"),
                                                  (len(jpeg_px), "patch(es) of JPEG inputs")) if n]
    if bad:
        print("RESULT: DIFFERENT")
    elif known_parts:
        print("RESULT: identical except the known differences:", ", ".join(known_parts))
    else:
        print("RESULT: identical")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "edge-inputs":
        edge_inputs(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], None))
    elif len(sys.argv) == 6 and sys.argv[1] == "compare" and sys.argv[4] == "--known":
        sys.exit(compare(sys.argv[2], sys.argv[3], sys.argv[5]))
    else:
        sys.exit(__doc__)
