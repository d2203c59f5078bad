#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU:
#   [GPUS=16] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [ARGS...]
set -euo pipefail
partition=$1; job_name=$2; config=$3; work_dir=$4; shift 4
exec bash "$(dirname "${BASH_SOURCE[0]}")/slurm_run.sh" "$partition" \
  "$job_name" train.py "$config" --work-dir="$work_dir" "$@"
