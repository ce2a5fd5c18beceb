#!/usr/bin/env bash
# LMMRotate's paper setting on 2 nodes x 8 GPUs (upstream's scripts/slurm script of the same
# name): Florence-2-large, 1024 px, 2048 text positions, response format v2, DOTA-v1.0 trainval
# patches, per-GPU batch 2 x 16 GPUs = 32, 100 epochs, bf16, lr 2e-5 cosine with 3 % warm-up.
#
#   sbatch scripts/slurm/florence-2-l_vis1024-lang2048_dota1-v2_b2x16-100e.sh
#
# One task per GPU (srun sets SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID; lmmrotate takes rank 0's
# address from the node list and meets the other ranks at MASTER_PORT). Each task sees its own GPU
# (lmmrotate sets CUDA_VISIBLE_DEVICES from SLURM_LOCALID when a task sees several). The run
# resumes from the latest checkpoint in the output folder when restarted, as upstream does.
#SBATCH --job-name=lmmrotate-florence2-l-dota
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=12
#SBATCH --output=logs/%x-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
source .env.sh                                  # from scripts/setup.sh: libtorch and NCCL
export MASTER_PORT="${MASTER_PORT:-12968}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-8}}"
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-8}}"
MODEL="${MODEL:-checkpoints/Florence-2-large}"  # a local copy of microsoft/Florence-2-large
RUN="${RUN:-runs/florence-2-l_vis1024-lang2048_dota1-v2_b2x16-100e}"

srun --kill-on-bad-exit=1 target/release/lmmrotate train \
  --model florence2 --checkpoint "$MODEL" --format v2 --dataset dota --split trainval \
  --image_square_length 1024 --language_model_max_length 2048 --bf16 \
  --per_device_train_batch_size 2 --gradient_accumulation_steps 1 --num_train_epochs 100 \
  --learning_rate 2e-5 --weight_decay 0 --warmup_ratio 0.03 --lr_scheduler_type cosine \
  --save_steps 50000 --logging_steps 1 --output_dir "$RUN"

# Evaluation sharded over the same 16 GPUs: each rank generates its share, rank 0 merges and
# scores (DOTA test has no labels: a Task1 submission is written).
srun --kill-on-bad-exit=1 target/release/lmmrotate eval \
  --model florence2 --checkpoint "$RUN" --format v2 --dataset dota --split test --batch-size 8
