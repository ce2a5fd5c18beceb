#!/usr/bin/env bash
# On one CUDA GPU: several recipes for the demo's micro Florence-2 trained from scratch at the
# same time (the micro model is launch-bound, so concurrent runs share the GPU well), each
# stopped after TRAIN_SECONDS with a clean stop (SIGINT: the run saves where it is), then scored
# on held-out scenes of the same distribution. Needs carry/ (scripts/gpu/build_carry.sh).
# Results (logs, metrics, the best checkpoint) under $OUT/micro_sweep/.
set -euo pipefail
source scripts/gpu/env.sh
OUT="${OUT:-out}"; res="$OUT/micro_sweep"; mkdir -p "$res"
TRAIN_SECONDS="${TRAIN_SECONDS:-360}"
IMAGES="${IMAGES:-12000}"
scene="${SCENE:-{\"min_objects\":1,\"max_objects\":4,\"object_scale\":1.0,\"crowding\":0.1\}}"
# name:lr:schedule:batch:max_steps (warm-up: 2 % of max_steps; a run stopped by the time limit
# keeps what it has)
RECIPES="${RECIPES:-a:1e-3:constant:64:6000 b:2e-3:constant:128:4000}"
work="${TMPDIR:-/tmp}/lmm_sweep"; mkdir -p "$work"
lmm data synth --out "$work/train" --images "$IMAGES" --size 256 --seed 1 --scene "$scene"
lmm data synth --out "$work/test" --images 200 --size 256 --seed 2 --prefix test_ --scene "$scene"
if [ "${PROFILE:-1}" = 1 ]; then
  # One run alone first, each phase of the step timed (device synchronised between phases).
  LMMROTATE_LOG=info ./carry/lmmrotate --registry scripts/gpu/registry.toml train --model micro --dataset synthetic \
    --dataset-root "$work/train" --output_dir "$work/profile" --max_steps 40 --per_device_train_batch_size 64 \
    --gradient_accumulation_steps 1 --learning_rate 1e-3 --save_steps 100000 --model-config '{"profile":true}' 2>&1 \
    | grep "step: inputs" | tail -5 | tee "$res/profile.txt"
  ./carry/lmmrotate -q --registry scripts/gpu/registry.toml train --model micro --dataset synthetic \
    --dataset-root "$work/train" --output_dir "$work/alone" --max_steps 200 --per_device_train_batch_size 64 \
    --gradient_accumulation_steps 1 --learning_rate 1e-3 --save_steps 100000 | tail -2 | tee -a "$res/profile.txt"
fi
pids=()
# Concurrent runs share the cores (OpenMP spins; see `lmmrotate launch`).
n_runs=$(wc -w <<<"$RECIPES"); share=$(( $(nproc) / n_runs )); [ "$share" -ge 1 ] || share=1
export OMP_NUM_THREADS="$share" RAYON_NUM_THREADS="$share"
for r in $RECIPES; do
  IFS=: read -r name lr sched batch steps <<<"$r"
  timeout -s INT "$TRAIN_SECONDS" ./carry/lmmrotate -q --registry scripts/gpu/registry.toml train --model micro \
    --dataset synthetic --dataset-root "$work/train" --output_dir "$work/$name" --max_steps "$steps" \
    --per_device_train_batch_size "$batch" --gradient_accumulation_steps 1 --learning_rate "$lr" \
    --lr_scheduler_type "$sched" --warmup_ratio 0.02 --save_steps 100000 --prefetch 8 >"$res/$name.train.txt" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
for r in $RECIPES; do
  IFS=: read -r name _ <<<"$r"
  ck="$(ls -d "$work/$name"/checkpoint-* | sort -t- -k2 -n | tail -1)"
  lmm eval --model micro --checkpoint "$ck" --dataset synthetic --dataset-root "$work/test" --out "$work/$name.eval" \
    --batch-size 100 --num-beams 1 --max-new-tokens 160 >/dev/null 2>&1 || echo "eval $name failed"
  cp "$work/$name/log.csv" "$res/$name.log.csv"
  python3 - "$name" "$ck" "$work/$name.eval/metrics.json" <<'PY' | tee -a "$res/summary.jsonl"
import json, sys
m = json.load(open(sys.argv[3]))
print(json.dumps({"recipe": sys.argv[1], "checkpoint": sys.argv[2], "map_nc": m.get("map_nc_area"), "map_nc_11": m.get("map_nc_11points"), "mf1": m.get("mf1")}))
PY
  head -2 "$work/$name.eval/responses.jsonl" | cut -c1-300
done
best="$(python3 -c "import json; rs=[json.loads(l) for l in open('$res/summary.jsonl')]; print(max(rs, key=lambda r: r['map_nc'] or 0)['checkpoint'])")"
mkdir -p "$res/best" && cp "$best"/{model.safetensors,config.json,generation_config.json,tokenizer.json,preprocessor_config.json,trainer_state.json} "$res/best/" 2>/dev/null || true
echo "best: $best"
