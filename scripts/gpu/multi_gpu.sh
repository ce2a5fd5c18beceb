#!/usr/bin/env bash
# On a CUDA machine with one or more GPUs: data-parallel training and sharded evaluation through
# `lmmrotate launch` (NCCL), against single-process runs. Needs carry/ (scripts/gpu/build_carry.sh).
# PARTS picks what runs (default all that the GPU count allows):
#   world1   NCCL with world size 1 through the launch path vs the plain run (micro, fp32)
#   equal    2 GPUs x batch 4 vs 1 GPU x batch 4 x accumulation 2, dropout off: micro (fp32) and
#            base-size (bf16) loss curves and final weights
#   resume   2 GPUs: checkpoint by rank 0, killed-and-restarted run resumes on both ranks
#   eval     eval of the micro run on 1 GPU and sharded over 2: same responses and metrics
#   scale    large@1024 (random init, bf16, 1024-token targets, batch 2 per GPU): samples/s on 1
#            and 2 GPUs, plus a profiled 2-GPU run (time of the gradient all-reduce phase)
# Results: $OUT/multi/*.json|csv|txt.
set -euo pipefail
source scripts/gpu/env.sh
OUT="${OUT:-out}"; res="$OUT/multi"; mkdir -p "$res"
ngpu="$(nvidia-smi -L | wc -l)"
PARTS="${PARTS:-world1 equal resume eval scale}"
work="${TMPDIR:-/tmp}/lmm_multi"; mkdir -p "$work"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$res/gpus.txt"
python3 -c 'import torch; print("torch", torch.__version__, "nccl", torch.cuda.nccl.version())' | tee -a "$res/gpus.txt"
has() { [[ " $PARTS " == *" $1 "* ]]; }
port=29611
launch() { local n="$1"; shift; port=$((port + 1)); lmm launch --nproc-per-node "$n" --master-port "$port" -- "$@"; }
nodrop() {  # model folder -> same weights, dropout and drop-path off
  python3 - "$1" <<'PY'
import json, sys
p = sys.argv[1] + "/config.json"; c = json.load(open(p))
for k in ("dropout", "attention_dropout", "activation_dropout"): c["text_config"][k] = 0.0
c["vision_config"]["drop_path_rate"] = 0.0
json.dump(c, open(p, "w"))
PY
}
init() {  # registry model -> $work/init_$1 (random init saved after a zero-lr update), dropout off
  [ -e "$work/init_$1/config.json" ] && return
  lmm train --model "$1" --dataset synthetic --dataset-root "$2" --output_dir "$work/init_$1" --max_steps 1 \
    --per_device_train_batch_size 1 --gradient_accumulation_steps 1 --learning_rate 0 --save_steps 1000
  nodrop "$work/init_$1"
}
common=(--dataset synthetic --warmup_ratio 0 --lr_scheduler_type constant --save_steps 1000 --logging_steps 1)

lmm data synth --out "$work/s256" --images 256 --size 256 --seed 1
lmm data synth --out "$work/t256" --images 64 --size 256 --seed 2 --prefix test_
if has equal; then lmm data synth --out "$work/s512" --images 128 --size 512 --seed 3; fi

if has world1; then
  echo "== world size 1 through NCCL =="
  init micro "$work/s256"
  a=(train --model micro --checkpoint "$work/init_micro" --dataset-root "$work/s256" --max_steps 20 \
     --per_device_train_batch_size 8 --gradient_accumulation_steps 1 --learning_rate 1e-3 "${common[@]}")
  lmm "${a[@]}" --output_dir "$work/w1_plain"
  launch 1 "${a[@]}" --output_dir "$work/w1_nccl"
  python3 scripts/gpu/compare_runs.py "$work/w1_plain" "$work/w1_nccl" "world1 micro fp32: plain vs launch(NCCL, 1 rank)" | tee "$res/world1.json"
fi

if has equal && [ "$ngpu" -ge 2 ]; then
  echo "== 2 GPUs vs 1 GPU with the same total batch =="
  init micro "$work/s256"
  m=(train --model micro --checkpoint "$work/init_micro" --dataset-root "$work/s256" --max_steps 30 \
     --per_device_train_batch_size 4 --learning_rate 1e-3 "${common[@]}")
  lmm "${m[@]}" --gradient_accumulation_steps 2 --output_dir "$work/eq_micro_1gpu"
  launch 2 "${m[@]}" --gradient_accumulation_steps 1 --output_dir "$work/eq_micro_2gpu"
  python3 scripts/gpu/compare_runs.py "$work/eq_micro_1gpu" "$work/eq_micro_2gpu" "micro fp32: 1 GPU accum 2 vs 2 GPUs" | tee "$res/equal_micro.json"
  init base-random "$work/s512"
  b=(train --model base-random --checkpoint "$work/init_base-random" --dataset-root "$work/s512" --max_steps 30 \
     --per_device_train_batch_size 4 --learning_rate 1e-4 --bf16 "${common[@]}")
  lmm "${b[@]}" --gradient_accumulation_steps 2 --output_dir "$work/eq_base_1gpu"
  launch 2 "${b[@]}" --gradient_accumulation_steps 1 --output_dir "$work/eq_base_2gpu"
  python3 scripts/gpu/compare_runs.py "$work/eq_base_1gpu" "$work/eq_base_2gpu" "base bf16: 1 GPU accum 2 vs 2 GPUs" | tee "$res/equal_base.json"
  cp "$work/eq_micro_1gpu/log.csv" "$res/eq_micro_1gpu.csv"; cp "$work/eq_micro_2gpu/log.csv" "$res/eq_micro_2gpu.csv"
  cp "$work/eq_base_1gpu/log.csv" "$res/eq_base_1gpu.csv"; cp "$work/eq_base_2gpu/log.csv" "$res/eq_base_2gpu.csv"
fi

if has resume && [ "$ngpu" -ge 2 ]; then
  echo "== checkpoint on rank 0, resume on both ranks =="
  init micro "$work/s256"
  r=(train --model micro --checkpoint "$work/init_micro" --dataset-root "$work/s256" --per_device_train_batch_size 4 \
     --learning_rate 1e-3 --dataset synthetic --warmup_ratio 0 --lr_scheduler_type constant --save_steps 10)
  launch 2 "${r[@]}" --gradient_accumulation_steps 1 --output_dir "$work/resume" --max_steps 20 | tee "$res/resume.txt"
  launch 2 "${r[@]}" --gradient_accumulation_steps 1 --output_dir "$work/resume" --max_steps 30 | tee -a "$res/resume.txt"
  lmm "${r[@]}" --gradient_accumulation_steps 2 --output_dir "$work/resume_ref" --max_steps 30 >/dev/null
  python3 scripts/gpu/compare_runs.py "$work/resume_ref" "$work/resume" "2 GPUs stopped at 20 and resumed to 30 vs 1 GPU accum 2 straight" | tee "$res/resume.json"
fi

if has eval && [ "$ngpu" -ge 2 ]; then
  echo "== sharded evaluation =="
  ck="$work/eq_micro_1gpu"; [ -e "$ck/config.json" ] || ck="$work/init_micro"
  e=(eval --model micro --checkpoint "$ck" --dataset synthetic --dataset-root "$work/t256" --batch-size 16 --num-beams 3 --max-new-tokens 64)
  lmm "${e[@]}" --out "$work/ev1"
  launch 2 "${e[@]}" --out "$work/ev2"
  if cmp -s "$work/ev1/metrics.json" "$work/ev2/metrics.json"; then same=true; else same=false; fi
  python3 -c "import json,sys; a=json.load(open('$work/ev1/metrics.json')); print(json.dumps({'identical_metrics_json': $same, 'identical_responses': open('$work/ev1/responses.jsonl').read()==open('$work/ev2/responses.jsonl').read(), 'map_nc': a.get('map_nc_area'), 'mf1': a.get('mf1')}))" | tee "$res/eval.json"
fi

if has scale; then
  echo "== scaling: large@1024, bf16, batch 2 per GPU =="
  lmm data synth --out "$work/s1024" --images 64 --size 1024 --seed 4 --scene '{"min_objects":70,"max_objects":90}'
  s=(train --model large-random --dataset-root "$work/s1024" --max_steps 14 --per_device_train_batch_size 2 \
     --gradient_accumulation_steps 1 --learning_rate 2e-5 --bf16 --prefetch 8 "${common[@]}")
  lmm "${s[@]}" --output_dir "$work/sc1" | tee "$res/scale_1gpu.txt"
  cp "$work/sc1/log.csv" "$res/scale_1gpu.csv"
  if [ "$ngpu" -ge 2 ]; then
    launch 2 "${s[@]}" --output_dir "$work/sc2" | tee "$res/scale_2gpu.txt"
    cp "$work/sc2/log.csv" "$res/scale_2gpu.csv"
    # Phase times (each phase synchronised: slower than the runs above, only for the split).
    LMMROTATE_LOG=info launch 2 "${s[@]}" --max_steps 6 --model-config '{"profile":true}' --output_dir "$work/sc2p" 2>&1 \
      | grep -i "inputs\|phase" | tail -4 | tee "$res/scale_2gpu_phases.txt" || true
  fi
fi
echo "done: $res"
