#!/usr/bin/env bash
# Distributed training over torchrun: dist_train.sh CONFIG GPUS [ARGS...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config=$1; gpus=$2; shift 2
py=${PYTHON:-$root/.venv/bin/python}
exec "$py" -m torch.distributed.run --nnodes="${NNODES:-1}" \
  --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${PORT:-29500}" --nproc_per_node="$gpus" \
  "$root/tools/train.py" "$config" --launcher pytorch "$@"
