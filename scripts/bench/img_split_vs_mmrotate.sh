#!/usr/bin/env bash
# Side by side: mmrotate's own tools/data/dota/split/img_split.py against `lmmrotate data split`,
# on the same inputs with mmrotate's ss_trainval settings (1024/200, rate 1.0, padding BGR
# 104,116,124, PNG). Times both end to end (process start to exit; wall and CPU time) and
# compares the outputs: patch pixels and annotation lines (scripts/bench/img_split_compare.py).
# Results: docs/BENCHMARKS.md.
#
#   scripts/bench/img_split_vs_mmrotate.sh [PATH/TO/img_split.py]
#
# img_split.py: the argument, else $MMROTATE_IMG_SPLIT, else taken from the mmrotate 1.0.0rc1
# wheel on PyPI (the version upstream LMMRotate pins; the wheel ships the script under
# mmrotate/.mim/tools), downloaded with pip into $WORK/mmrotate. It imports cv2, numpy, PIL and
# shapely only (no mmcv / mmengine), all in scripts/goldens/requirements.txt.
#
# Environment: WORK (default /tmp/img_split_vs_mmrotate; wiped), IMAGES (synthetic images, 4),
# SIZE (their side in pixels, 4000), NPROC (mmrotate's worker processes and lmmrotate's threads,
# default `nproc`), RUNS (timed runs of each, alternating, 2), PYTHON (default .venv/bin/python),
# LMMROTATE (default target/release/lmmrotate: build it first with
# `cargo build --release -p lmmrotate-cli`).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-/tmp/img_split_vs_mmrotate}
images=${IMAGES:-4}
size=${SIZE:-4000}
nproc=${NPROC:-$(nproc)}
runs=${RUNS:-2}
python=${PYTHON:-$repo/.venv/bin/python}
lmmrotate=${LMMROTATE:-$repo/target/release/lmmrotate}
sample=$repo/../shared/testdata/mmrotate-samples/dota

[[ -x $lmmrotate ]] || { echo "no $lmmrotate: cargo build --release -p lmmrotate-cli" >&2; exit 2; }
"$python" -c 'import cv2, numpy, PIL, shapely' 2>/dev/null \
    || { echo "$python lacks cv2/numpy/PIL/shapely: pip install -r scripts/goldens/requirements.txt" >&2; exit 2; }

rm -rf "$work"
mkdir -p "$work"

img_split=${1:-${MMROTATE_IMG_SPLIT:-}}
if [[ -z $img_split ]]; then
    "$python" -m pip download --quiet --no-deps mmrotate==1.0.0rc1 -d "$work/mmrotate"
    (cd "$work/mmrotate" && "$python" -m zipfile -e mmrotate-1.0.0rc1-py3-none-any.whl .)
    img_split=$work/mmrotate/mmrotate/.mim/tools/data/dota/split/img_split.py
fi
[[ -f $img_split ]] || { echo "img_split.py not found at $img_split" >&2; exit 2; }
echo "mmrotate img_split.py: $img_split (sha256 $(sha256sum "$img_split" | cut -c1-16))"

# Inputs. The timed set: large synthetic DOTA-like scenes (the same as framework/datatools'
# bench_split example). The edge set (not timed): RGBA, grayscale, 16-bit and palette PNGs,
# CRLF and header lines, a line without difficulty, objects across window borders.
"$lmmrotate" -q data synth --out "$work/in/synth" --images "$images" --size "$size" --seed 1 --prefix P \
    --scene '{"min_objects": 250, "max_objects": 350, "object_scale": 1.5, "max_roads": 6}'
"$python" "$repo/scripts/bench/img_split_compare.py" edge-inputs "$work/in/edge" "$sample"

TIMEFORMAT='%R %U %S'
run_mmrotate() { # INPUT OUT
    (cd "$work" && "$python" "$img_split" --img-dirs "$1/images" --ann-dirs "$1/annfiles" \
        --sizes 1024 --gaps 200 --rates 1.0 --img-rate-thr 0.6 --iof-thr 0.7 \
        --padding-value 104 116 124 --save-ext .png --nproc "$nproc" --save-dir "$2" > "$2.log" 2>&1)
}
run_lmmrotate() { # INPUT OUT
    RAYON_NUM_THREADS=$nproc "$lmmrotate" -q data split --img-dir "$1/images" --ann-dir "$1/annfiles" \
        --sizes 1024 --gaps 200 --rates 1.0 --img-rate-thr 0.6 --iof-thr 0.7 \
        --padding-value 104,116,124 --save-ext .png --out "$2" > "$2.log" 2>&1
}

status=0
for set in synth edge; do
    n=1
    [[ $set == synth ]] && n=$runs
    for ((r = 1; r <= n; r++)); do
        for tool in mmrotate lmmrotate; do
            out=$work/out/$set-$tool
            rm -rf "$out" "$out.log"
            mkdir -p "$work/out"
            # Wall time, and CPU time (user + system) of the process and its children: the
            # latter is less sensitive to other work on the machine.
            if ! timing=$( { time run_$tool "$work/in/$set" "$out"; } 2>&1 ); then
                echo "$tool failed on $set:"; tail -20 "$out.log"; exit 2
            fi
            read -r wall user sys <<< "$timing"
            printf '%-6s run %d  %-9s %7.2f s wall  %7.2f s CPU  (%s patches)\n' "$set" "$r" "$tool" "$wall" \
                "$(awk "BEGIN { print $user + $sys }")" "$(ls "$out/images" | wc -l)"
        done
    done
    echo "--- $set: compare (mmrotate vs lmmrotate)"
    extra=()
    [[ $set == edge ]] && extra=(--known "$work/in/edge")
    "$python" "$repo/scripts/bench/img_split_compare.py" compare "$work/out/$set-mmrotate" "$work/out/$set-lmmrotate" \
        "${extra[@]}" || status=1
done
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
