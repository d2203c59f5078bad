#!/usr/bin/env bash
# README quick start, command 1: set the environment up when needed, then
# run the main job on its embedded default.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/setup_env.sh"
cd "$root"
out=${MMACT_OUT:-outputs}
mkdir -p "$out"
py="$root/.venv/bin/python"
"$py" -m mmact list
"$py" -m mmact plot ReLU GELU GELUTanh QuickGELU SiLU "SwishBeta:beta=2.0" \
  Mish SELU CELU Softplus HardSiLU PDELU "PDELU:t=1.5" \
  --out "$out/gallery.png"
"$py" -m mmact plot "DiTAC:init='prior'" "GE-DiTAC:init='prior'" \
  "L-DiTAC:init='prior'" "inf-DiTAC:init='prior'" GELU --xmin -3 --xmax 3 \
  --out "$out/ditac.png"
echo "outputs in $out/: gallery.png, ditac.png"
