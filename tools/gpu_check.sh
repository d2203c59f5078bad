#!/usr/bin/env bash
# The GPU checks in one run, sized for a short loan of one NVIDIA GPU
# (about 8 minutes): the CUDA kernel tests, the activation table at 16M and
# 64M elements in fp32 and bf16 (every registered activation vs torch GELU,
# official-style DiTAC, bandwidth), both DiTAC theta-gradient reductions,
# and the UperNet + ConvNeXt-T train step (512x512, batch 2). Results go to
# benchmarks/results/gpu_<device>/ (CSV + Markdown per part, logs).
#   bash tools/gpu_check.sh [PEAK_GBPS]      # PEAK_GBPS: 4800 for an H200
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
py=${PYTHON:-$([[ -x .venv/bin/python ]] && echo .venv/bin/python || echo python3)}
peak=${1:-0}
"$py" -c 'import sys, torch
sys.exit(0 if torch.cuda.is_available() else
         "gpu_check: no CUDA GPU visible (torch.cuda.is_available() is False)")' \
  || exit 2
device=$("$py" -c 'import re, torch
print(re.sub(r"\W+", "_", torch.cuda.get_device_name(0)).strip("_"))')
out=benchmarks/results/gpu_$device
mkdir -p "$out"
status=0
step() {  # step NAME SECONDS CMD...: run with a time limit, log, go on
  local name=$1 limit=$2; shift 2
  echo "== $name" >&2
  if ! timeout "$limit" "$@" >"$out/$name.log" 2>&1; then
    echo "   FAILED or timed out: see $out/$name.log" >&2; status=1
  fi
}
step tests 90 "$py" -m pytest -q -p no:cacheprovider \
  tests/test_ditac_triton.py tests/test_layeract_triton.py \
  tests/test_channel_triton.py tests/test_cpab.py
for dtype in float32 bfloat16; do
  for numel in 16777216 67108864; do
    step "activations_${dtype}_${numel}" 60 "$py" \
      benchmarks/bench_activations.py --device cuda --dtype "$dtype" \
      --numel "$numel" --rounds 2 --repeats 5 --peak-gbps "$peak" \
      --out "gpu_$device/activations_${dtype}_${numel}"
  done
done
for reduction in histogram partials; do
  MMACT_THETA_REDUCTION=$reduction step "theta_$reduction" 30 "$py" \
    benchmarks/bench_activations.py --device cuda --numel 16777216 \
    --names GELU DiTAC GEDiTAC LDiTAC InfDiTAC DiTAC-official-style \
    --peak-gbps "$peak" --out "gpu_$device/theta_$reduction"
done
step train_step 90 "$py" benchmarks/bench_train_step.py --device cuda \
  --acts GELU DiTAC LA-SiLU AconC --out "$out"
echo "results: $out/" >&2
exit $status
