#!/usr/bin/env bash
# Distributed testing over torchrun: dist_test.sh CONFIG CHECKPOINT GPUS [ARGS...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=$1; checkpoint=$2; gpus=$3; shift 3
py=${PYTHON:-$root/.venv/bin/python}
exec "$py" -m torch.distributed.run --nnodes="${NNODES:-1}" \
  --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${PORT:-29500}" --nproc_per_node="$gpus" \
  "$root/tools/test.py" "$config" "$checkpoint" --launcher pytorch "$@"
