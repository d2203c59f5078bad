"""Compile every mmact Triton kernel ahead of time for an NVIDIA GPU target
(no GPU needed) and report registers and spills per kernel, and floors
of fused multiply-adds (the DiTAC lookup must have none).

    python tools/triton_aot.py [--arch 80 90] [--out DIR]

Each kernel is compiled, for every dtype / variant / constexpr combination
the dispatch launches, through Triton's whole pipeline down to a cubin;
``ptxas -v`` (shipped with Triton) then reports registers and spill
stores/loads. Exits non-zero when a kernel fails to compile. Must run with
``TRITON_INTERPRET`` unset (the interpreter replaces the compiled kernels).
"""
import argparse
import itertools
import json
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
from typing import Dict, Iterator, List, Tuple

DTYPES = ('fp32', 'fp16', 'bf16')


def launches() -> Iterator[Tuple[str, object, Dict[str, str], dict]]:
    """(label, kernel, signature, constexprs) of every launch the ops make
    (the DiTAC kernels' launch options: :func:`options`)."""
    import importlib

    from mmact.ops import _channels, acon, cpab, ditac, layeract
    pdelu = importlib.import_module('mmact.ops.pdelu')
    for variant, dtype in itertools.product(range(4), DTYPES):
        tables = dict(base_ptr='*fp32', step_ptr='*fp32', first_ptr='*fp32',
                      refine_ptr='*fp32', exact_ptr='*fp64')
        scalars = dict(sc_hi='fp32', c_hi='fp32', slope='fp32', lo='fp32',
                       hi='fp32', offset='i32')
        yield (f'ditac_fwd[{dtype},variant={variant}]',
               ditac._ditac_fwd_kernel,
               dict(x_ptr=f'*{dtype}', y_ptr=f'*{dtype}', **tables, n='i32',
                    **scalars,
                    VARIANT='constexpr', BLOCK='constexpr'),
               dict(VARIANT=variant, BLOCK=ditac.BLOCK))
        yield (f'ditac_bwd[{dtype},variant={variant}]',
               ditac._ditac_bwd_kernel,
               dict(x_ptr=f'*{dtype}', g_ptr=f'*{dtype}', gx_ptr=f'*{dtype}',
                    hist_ptr='*fp32', **tables, n='i32', bins='i32', **scalars, VARIANT='constexpr',
                    COPIES='constexpr', BLOCK='constexpr'),
               dict(VARIANT=variant, COPIES=ditac.HIST_COPIES,
                    BLOCK=ditac.BLOCK))
        for d_pad in (8, 16):  # 10 cells: d = 9 (inf-DiTAC 11)
            yield (f'ditac_bwd_partials[{dtype},variant={variant},'
                   f'D_PAD={d_pad}]', ditac._ditac_bwd_partial_kernel,
                   dict(x_ptr=f'*{dtype}', g_ptr=f'*{dtype}',
                        gx_ptr=f'*{dtype}', J_ptr='*fp32', part_ptr='*fp32',
                        **tables, n='i32',
                        G='i32', d='i32', **scalars, VARIANT='constexpr',
                        D_PAD='constexpr', BLOCK='constexpr'),
                   dict(VARIANT=variant, D_PAD=d_pad,
                        BLOCK=ditac.PARTIAL_BLOCK))
    # n beyond 2**31 elements: Triton passes it as int64.
    yield ('ditac_fwd[fp32,variant=0,n=i64]', ditac._ditac_fwd_kernel,
           dict(x_ptr='*fp32', y_ptr='*fp32', base_ptr='*fp32',
                step_ptr='*fp32', first_ptr='*fp32', refine_ptr='*fp32',
                exact_ptr='*fp64', n='i64', sc_hi='fp32', c_hi='fp32',
                slope='fp32', lo='fp32', hi='fp32', offset='i32',
                VARIANT='constexpr', BLOCK='constexpr'),
           dict(VARIANT=0, BLOCK=ditac.BLOCK))
    # D_PAD: next power of 2 of the θ dimension (9 and 11 at 10 cells).
    for with_grad, d_pad in itertools.product((False, True), (8, 16, 32, 64)):
        yield (f'cpab[with_grad={with_grad},D_PAD={d_pad}]',
               cpab._cpab_kernel,
               dict(u_ptr='*fp64', A_ptr='*fp64', B_ptr='*fp64',
                    t_ptr='*fp64', T_ptr='*fp64', gu_ptr='*fp64',
                    J_ptr='*fp64', n='i32', nc='i32', d='i32',
                    WITH_GRAD='constexpr', D_PAD='constexpr',
                    BLOCK='constexpr'),
               dict(WITH_GRAD=with_grad, D_PAD=d_pad,
                    BLOCK=cpab.block_size(d_pad, with_grad)))
    tiles = dict(BLOCK_M=_channels.BLOCK_M, BLOCK_K=_channels.BLOCK_K)
    tile_sig = dict(BLOCK_M='constexpr', BLOCK_K='constexpr')
    for inner in (False, True):
        params = dict(p1_ptr='*fp32', p2_ptr='*fp32', beta_ptr='*fp32')
        yield (f'acon_fwd[inner={inner}]', acon._acon_fwd_kernel,
               dict(x_ptr='*fp32', y_ptr='*fp32', **params, M='i32', K='i32',
                    INNER='constexpr', **tile_sig), dict(INNER=inner, **tiles))
        yield (f'acon_bwd[inner={inner}]', acon._acon_bwd_kernel,
               dict(x_ptr='*fp32', g_ptr='*fp32', gx_ptr='*fp32',
                    part_ptr='*fp32', **params, M='i32', K='i32',
                    INNER='constexpr', **tile_sig), dict(INNER=inner, **tiles))
        for elu in (False, True):
            const = dict(ELU=elu, INNER=inner, **tiles)
            yield (f'pdelu_fwd[inner={inner},elu={elu}]',
                   pdelu._pdelu_fwd_kernel,
                   dict(x_ptr='*fp32', y_ptr='*fp32', alpha_ptr='*fp32',
                        M='i32', K='i32', t='fp32', ELU='constexpr',
                        INNER='constexpr', **tile_sig), const)
            yield (f'pdelu_bwd[inner={inner},elu={elu}]',
                   pdelu._pdelu_bwd_kernel,
                   dict(x_ptr='*fp32', g_ptr='*fp32', gx_ptr='*fp32',
                        part_ptr='*fp32', alpha_ptr='*fp32', M='i32',
                        K='i32', t='fp32', ELU='constexpr',
                        INNER='constexpr', **tile_sig), const)
    stats = dict(mean_ptr='*fp32', rstd_ptr='*fp32')
    for kind, dtype in itertools.product((0, 1), DTYPES):
        const = dict(KIND=kind, BLOCK=layeract.BLOCK)
        tail = dict(KIND='constexpr', BLOCK='constexpr')
        yield (f'layeract_fwd[{dtype},kind={kind}]', layeract._la_fwd_kernel,
               dict(x_ptr=f'*{dtype}', y_ptr=f'*{dtype}', **stats, D='i32',
                    **tail), const)
        for deterministic in (False, True):
            yield (f'layeract_bwd_reduce[{dtype},kind={kind},'
                   f'deterministic={deterministic}]',
                   layeract._la_bwd_reduce_kernel,
                   dict(x_ptr=f'*{dtype}', g_ptr=f'*{dtype}', **stats,
                        sums_ptr='*fp32', D='i32', KIND='constexpr',
                        DETERMINISTIC='constexpr', BLOCK='constexpr'),
                   dict(const, DETERMINISTIC=deterministic))
        yield (f'layeract_bwd[{dtype},kind={kind}]', layeract._la_bwd_kernel,
               dict(x_ptr=f'*{dtype}', g_ptr=f'*{dtype}', dx_ptr=f'*{dtype}',
                    **stats, sums_ptr='*fp32', D='i32', c='fp32', **tail),
               const)


def options(kernel) -> dict:
    """The compile options the ops launch ``kernel`` with."""
    from mmact.ops import ditac
    ditac_kernels = (ditac._ditac_fwd_kernel, ditac._ditac_bwd_kernel,
                     ditac._ditac_bwd_partial_kernel)
    return dict(ditac.TRITON_OPTIONS) if kernel in ditac_kernels else {}


def floors_of_fma(ptx: str) -> int:
    """How many floors (``cvt.rmi``) of the PTX take a fused multiply-add's
    result: the DiTAC lookup's grid bin is the floor of x * sc_hi + c_hi
    rounded twice, so its kernels must have none."""
    defined_by, count = {}, 0
    for line in ptx.splitlines():
        m = re.match(r'\s*([\w.]+)\s+(%\w+),\s*(%\w+)?', line)
        if not m:
            continue
        op, dst, src = m.groups()
        if op.startswith('cvt.rmi') and defined_by.get(src, '').startswith(
                'fma'):
            count += 1
        defined_by[dst] = op
    return count


def _ptxas_usage(ptx: str, arch: int, metadata) -> Dict[str, int]:
    """Registers and spill bytes of a PTX module, from ``ptxas -v`` (with
    ``--fmad=false`` where Triton's own cubin build passes it)."""
    from triton.backends.nvidia.compiler import get_ptxas
    ptxas = get_ptxas(arch).path
    with tempfile.TemporaryDirectory() as tmp:
        src = osp.join(tmp, 'k.ptx')
        with open(src, 'w') as f:
            f.write(ptx)
        out = subprocess.run(
            [ptxas, '-v', f'--gpu-name=sm_{arch}{"a" if arch >= 90 else ""}',
             *([] if metadata.enable_fp_fusion else ['--fmad=false']),
             src, '-o', osp.join(tmp, 'k.cubin')],
            capture_output=True, text=True, check=True).stderr
    regs = re.search(r'Used (\d+) registers', out)
    spills = re.search(r'(\d+) bytes spill stores, (\d+) bytes spill loads',
                       out)
    return dict(registers=int(regs.group(1)) if regs else -1,
                spill_stores=int(spills.group(1)) if spills else 0,
                spill_loads=int(spills.group(2)) if spills else 0)


def compile_all(arch: int) -> List[dict]:
    """Compile every launch for ``sm_<arch>``; one record per launch."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    records = []
    for label, kernel, signature, constexprs in launches():
        record = dict(kernel=label, arch=arch)
        try:
            compiled = triton.compile(
                ASTSource(kernel, signature, constexprs),
                target=GPUTarget('cuda', arch, 32), options=options(kernel))
            record['cubin_bytes'] = len(compiled.asm['cubin'])
            ptx = compiled.asm['ptx']
            record['floors_of_fma'] = floors_of_fma(ptx)
            record.update(_ptxas_usage(ptx, arch, compiled.metadata))
        except Exception as exc:  # noqa: BLE001  (reported, then fails)
            record['error'] = f'{type(exc).__name__}: {exc}'[:2000]
        records.append(record)
    return records


def main() -> int:
    if os.environ.get('TRITON_INTERPRET') == '1':
        sys.exit('tools/triton_aot.py: unset TRITON_INTERPRET (the '
                 'interpreter replaces the compiled kernels)')
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', type=int, nargs='+', default=[80, 90],
                        help='compute capabilities (80: A100, 90: H100/H200)')
    parser.add_argument('--out', help='write aot_sm<arch>.json and .md here')
    args = parser.parse_args()
    failed = 0
    for arch in args.arch:
        records = compile_all(arch)
        lines = [f'Triton kernels compiled for sm_{arch}', '',
                 '| kernel | registers | spill stores / loads (bytes) | '
                 'cubin bytes | floors of an FMA |', '|---|---|---|---|---|']
        for r in records:
            if 'error' in r:
                failed += 1
                lines.append(f'| {r["kernel"]} | FAILED: {r["error"]} | | '
                             '| |')
            else:
                lines.append(f'| {r["kernel"]} | {r["registers"]} | '
                             f'{r["spill_stores"]} / {r["spill_loads"]} | '
                             f'{r["cubin_bytes"]} | {r["floors_of_fma"]} |')
        print('\n'.join(lines) + '\n')
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with open(osp.join(args.out, f'aot_sm{arch}.json'), 'w') as f:
                json.dump(records, f, indent=1)
            with open(osp.join(args.out, f'aot_sm{arch}.md'), 'w') as f:
                f.write('\n'.join(lines) + '\n')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
