#!/usr/bin/env bash
# What slurm_train.sh and slurm_test.sh share: srun one task per GPU, each
# running a tool of this folder with --launcher slurm; mmengine reads the
# SLURM_* variables srun sets (rank, world size, first host as master).
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   bash tools/slurm_run.sh PARTITION JOB_NAME TOOL [TOOL ARGS...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
partition=$1; job_name=$2; tool=$3; shift 3
gpus=${GPUS:-8}
gpus_per_node=${GPUS_PER_NODE:-$((gpus < 8 ? gpus : 8))}
py=${PYTHON:-$root/.venv/bin/python}
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
exec srun -p "$partition" --job-name="$job_name" \
  --gres=gpu:"$gpus_per_node" --ntasks="$gpus" \
  --ntasks-per-node="$gpus_per_node" --cpus-per-task="${CPUS_PER_TASK:-5}" \
  --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
  "$py" -u "$root/tools/$tool" "$@" --launcher=slurm
