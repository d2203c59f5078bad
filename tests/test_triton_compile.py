"""Every Triton kernel compiles ahead of time to a cubin for sm_80 and
sm_90 (tools/triton_aot.py: no GPU needed), without register spills."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip('triton')

ROOT = Path(__file__).resolve().parents[1]
ARCHS = (80, 90)
KERNELS = ('ditac_fwd', 'ditac_bwd', 'ditac_bwd_partials', 'cpab',
           'layeract_fwd', 'layeract_bwd_reduce', 'layeract_bwd', 'acon_fwd',
           'acon_bwd', 'pdelu_fwd', 'pdelu_bwd')


def _compiler_env() -> dict:
    """This environment without TRITON_INTERPRET (which replaces the
    compiled kernels)."""
    return {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp('aot')
    run = subprocess.run([sys.executable, 'tools/triton_aot.py', '--arch',
                          *map(str, ARCHS), '--out', str(out)], cwd=ROOT,
                         env=_compiler_env(), capture_output=True, text=True,
                         timeout=900)
    records = {arch: json.loads((out / f'aot_sm{arch}.json').read_text())
               for arch in ARCHS if (out / f'aot_sm{arch}.json').exists()}
    return run, records


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('kernel', KERNELS)
def test_kernel_compiles_to_cubin_without_spills(compiled, arch, kernel):
    run, records = compiled
    assert arch in records, run.stderr[-3000:]
    launches = [r for r in records[arch]
                if r['kernel'].split('[')[0] == kernel]
    assert launches
    for r in launches:
        assert 'error' not in r, r
        assert r['cubin_bytes'] > 0 and 0 < r['registers'] <= 255, r
        assert r['spill_stores'] == r['spill_loads'] == 0, r


def test_every_dtype_and_variant_is_compiled(compiled):
    run, records = compiled
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    labels = {r['kernel'] for r in records[90]}
    for dtype in ('fp32', 'fp16', 'bf16'):
        for variant in range(4):
            assert f'ditac_bwd[{dtype},variant={variant}]' in labels
        for kind in (0, 1):
            assert f'layeract_bwd[{dtype},kind={kind}]' in labels


def test_the_tool_refuses_the_interpreter():
    run = subprocess.run([sys.executable, 'tools/triton_aot.py'], cwd=ROOT,
                         env={**os.environ, 'TRITON_INTERPRET': '1'},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and 'unset TRITON_INTERPRET' in run.stderr


def test_ditac_kernels_compile_without_fma_contraction(compiled):
    """The DiTAC lookup floors s = x * sc_hi + c_hi rounded twice, as the
    CPU paths do; an FMA would pick other grid bins at knots. With
    Triton's default contraction the floor takes an FMA's result."""
    run, records = compiled
    for arch in ARCHS:
        floors = {r['kernel']: r['floors_of_fma'] for r in records[arch]
                  if r['kernel'].startswith('ditac')}
        assert len(floors) == 3 * 4 * 4 + 1 and not any(floors.values())
    check = subprocess.run([sys.executable, '-c', FUSED_FLOORS], cwd=ROOT,
                           env=_compiler_env(), capture_output=True,
                           text=True, timeout=300)
    assert check.returncode == 0, check.stderr[-3000:]
    assert int(check.stdout.split()[-1]) > 0


FUSED_FLOORS = """
import sys
sys.path.insert(0, 'tools')
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import triton_aot
label, kernel, signature, constexprs = next(triton_aot.launches())
compiled = triton.compile(ASTSource(kernel, signature, constexprs),
                          target=GPUTarget('cuda', 90, 32),
                          options=dict(enable_fp_fusion=True))
print(triton_aot.floors_of_fma(compiled.asm['ptx']))
"""
