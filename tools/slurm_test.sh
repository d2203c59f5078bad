#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [ARGS...]
set -euo pipefail
partition=$1; job_name=$2; config=$3; checkpoint=$4; shift 4
exec bash "$(dirname "${BASH_SOURCE[0]}")/slurm_run.sh" "$partition" \
  "$job_name" test.py "$config" "$checkpoint" "$@"
