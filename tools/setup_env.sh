#!/usr/bin/env bash
# Creates .venv/ at the repository root with the pinned OpenMMLab stack and
# mmact installed in editable mode. Idempotent: on a ready machine it only
# re-verifies the stack (seconds). The first run on a fresh machine takes
# about 13 minutes on 2 cores, most of it compiling mmcv's ops; pip's
# wheel cache keeps that build for later runs on the same machine.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
py="$venv/bin/python"
req="$root/requirements"
stamp="$venv/.mmact-env"
want=$(cat "$req"/*.txt "$root/tools/setup_env.sh" "$root/setup.py" \
  $(find "$root/mmact/ops/csrc" -type f | sort) | sha256sum | cut -d' ' -f1)

if [[ -x "$py" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$py" "$root/tools/check_env.py" --quiet; then
  exit 0
fi

log() { printf '[setup_env] %s\n' "$*" >&2; }
pip_install() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

start=$SECONDS
[[ -x "$py" ]] || { log "creating $venv"; python3 -m venv "$venv"; }

log "torch + torchvision (regular build, several GB on first install)"
pip_install -r "$req/torch.txt" -r "$req/build.txt"

if ! "$py" -c "import mmcv.ops" 2>/dev/null; then
  log "mmcv 2.1.0 with compiled ops (first build ~10 min on 2 cores; cached afterwards)"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    pip_install --no-build-isolation -c "$req/constraints.txt" -r "$req/mmcv.txt"
fi

log "OpenMMLab codebases"
pip_install -c "$req/constraints.txt" -r "$req/openmmlab.txt"
pip_install --no-deps -r "$req/mmagic.txt"

log "test and analysis tools"
# imagecorruptions-imaug ships the same package as the old imagecorruptions.
"$py" -m pip uninstall -y -q imagecorruptions 2>/dev/null || true
pip_install -c "$req/constraints.txt" -r "$req/tests.txt"

log "ONNX export and ONNX Runtime"
pip_install -c "$req/constraints.txt" -r "$req/deploy.txt"

log "mmact (editable; compiles its CPU kernels, mmact._C)"
pip_install --no-deps --no-build-isolation -e "$root"

"$py" "$root/tools/check_env.py"
echo "$want" > "$stamp"
log "environment ready in $((SECONDS - start)) s"
