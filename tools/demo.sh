#!/usr/bin/env bash
# README quick start, command 1: set the environment up when needed, then
# run the main job on its embedded default: UperNet + ConvNeXt-T with DiTAC
# (configs/upernet_convnext_ditac.py, CPU-sized by
# configs/demo/upernet_convnext_ditac_cpu-tiny.py) on generated ADE20K-layout
# data -> training with logs -> mIoU -> learned DiTAC curves per layer.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/tools/setup_env.sh"
cd "$root"
py="$root/.venv/bin/python"
out=${MMACT_OUT:-outputs}
data=${ADE20K_ROOT:-data/ade/ADEChallengeData2016}
work=work_dirs/upernet_convnext_ditac_cpu-tiny
mkdir -p "$out"
[[ -d "$data/images/training" ]] || "$py" tools/generate_data.py ade20k --root "$data"
ADE20K_ROOT="$data" "$py" tools/train.py \
  configs/demo/upernet_convnext_ditac_cpu-tiny.py --work-dir "$work"
"$py" -m mmact plot-ckpt "$work/iter_40.pth" --out "$out/ditac_learned.png"
"$py" -m mmact plot ReLU GELU GELUTanh QuickGELU SiLU "SwishBeta:beta=2.0" \
  Mish SELU CELU Softplus HardSiLU PDELU "PDELU:t=1.5" \
  --out "$out/gallery.png" >/dev/null
echo "checkpoint and logs (mIoU): $work/"
echo "pictures: $out/ditac_learned.png (learned curves), $out/gallery.png"
