"""Activation op benchmark: time and saved memory as ratios to torch GELU.

Every activation runs forward + backward on the same input tensor as
torch's GELU, interleaved in one run, so the ratios compare like with like
on whatever machine runs it. Results go to stdout (Markdown) and to
``benchmarks/results/activations_<device>.{csv,md}``.

    python benchmarks/bench_activations.py                 # all, CPU, 4M fp32
    python benchmarks/bench_activations.py --device cuda --numel 16777216
    python benchmarks/bench_activations.py --names DiTAC PDELU --dtype bfloat16
    python benchmarks/bench_activations.py --names DiTAC DiTAC-official-style

A name with the suffix ``:pytorch`` (``DiTAC:pytorch``, ``LASiLU:pytorch``)
runs with the compiled CPU kernels (``mmact._C``) switched off: the
vectorised PyTorch path, for comparison.

The process keeps the memory it frees (glibc ``mallopt``): by default
glibc hands large freed blocks back to the system and the next allocation
faults them in again, at random between runs (on a 2-core VM ~4 ms per
16 MiB, more than GELU itself), so the ratios would measure page faults.

``DiTAC-official-style`` is a baseline built here from the description of the
official implementation (spec ditac.md §4): nearest-entry table lookup,
straight-through dT/du, and a per-element float64 gather of dT/dθ (N x d)
in the backward, all as unfused PyTorch ops.
"""
import argparse
import contextlib
import ctypes
import ctypes.util
import platform
import statistics
import time
from pathlib import Path
from typing import Callable, List

import torch
import torch.nn.functional as F

import mmact
from mmact.modules import ChannelwiseActivation, DiTAC
from mmact.modules.ditac import DiTACBase
from mmact.ops import cpab
from mmact.ops._backend import cpu_isa, cpu_kernels
from results_io import write_csv, write_markdown

OFFICIAL = 'DiTAC-official-style'
PYTORCH_PATH = ':pytorch'


class _OfficialStyleFunction(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, theta, T, dTdu, J, a, b):
        G = T.numel()
        u = (x - a) / (b - a)
        inside = (x >= a) & (x <= b)
        idx = torch.round(u.clamp(0, 1) * (G - 1)).long()
        warped = torch.where(inside, a + (b - a) * T[idx], x)
        cdf = torch.special.ndtr(x)
        ctx.save_for_backward(x, idx, inside, warped, cdf, dTdu, J)
        ctx.width = b - a
        return warped * cdf

    @staticmethod
    def backward(ctx, g):
        x, idx, inside, warped, cdf, dTdu, J = ctx.saved_tensors
        pdf = torch.exp(-0.5 * x * x) / (2 * torch.pi)**0.5
        slope = torch.where(inside, dTdu[idx], torch.ones_like(x))
        grad_x = g * (slope * cdf + warped * pdf)
        weight = (g * cdf * ctx.width * inside).double().reshape(-1, 1)
        grad_theta = (weight * J[idx.reshape(-1)]).sum(0)  # N x d float64
        return grad_x, grad_theta.to(x.dtype), None, None, None, None, None


class OfficialStyleDiTAC(torch.nn.Module):
    """The official approach (see module docstring), for comparison."""

    def __init__(self) -> None:
        super().__init__()
        self.ditac = DiTAC(init='prior')

    def forward(self, x):
        d = self.ditac
        # Its own uniform table of G entries (no refinement), per call.
        grid = torch.linspace(0, 1, d.table_size, dtype=torch.float64)
        flow = cpab.integrate(grid, d.theta.detach(), d.num_cells, True,
                              with_grad_theta=True)
        T = flow.T
        dTdu = torch.gradient(T, spacing=1 / (T.numel() - 1))[0]
        return _OfficialStyleFunction.apply(x, d.theta, T.to(x.dtype),
                                            dTdu.to(x.dtype), flow.grad_theta,
                                            d.a, d.b)

RESULTS = Path(__file__).resolve().parent / 'results'


def registered_names() -> List[str]:
    """Every activation of the registry once (canonical names, table
    order), GELU first: the default rows."""
    names = dict.fromkeys(i.canonical for i in mmact.list_activations())
    return ['GELU'] + [n for n in names if n != 'GELU']


def keep_freed_memory() -> bool:
    """Has glibc keep freed blocks in the process (no mmap per large block,
    no trimming); False where the C library is not glibc."""
    libc = ctypes.CDLL(ctypes.util.find_library('c'))
    if not hasattr(libc, 'mallopt'):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)
                and libc.mallopt(m_trim_threshold, 2**31 - 1))


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize()


def fwd_bwd_ms(fn: Callable, x: torch.Tensor, grad: torch.Tensor) -> float:
    _sync(x.device)
    start = time.perf_counter()
    fn(x).backward(grad)
    _sync(x.device)
    return (time.perf_counter() - start) * 1e3


def saved_bytes(fn: Callable, x: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward of ``fn(x)``."""
    sizes, seen = [], set()

    def pack(t):
        key = (t.data_ptr(), t.numel(), t.dtype)
        if key not in seen:
            seen.add(key)
            sizes.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return sum(sizes)


# Inputs: N(0, 1), N(0, 1.5²), or uniform over DiTAC's default window
# [-0.5, 2] (every element a table lookup, many in refined sub-bins).
INPUTS = ('normal', 'wide', 'window')


def make_input(kind: str, shape, device, dtype) -> torch.Tensor:
    if kind == 'window':
        return (torch.rand(shape, device=device) * 2.5 - 0.5).to(dtype)
    scale = 1.5 if kind == 'wide' else 1.0
    return (torch.randn(shape, device=device) * scale).to(dtype)


def build(name: str, channels: int, device, dtype,
          init: str = 'identity') -> torch.nn.Module:
    if name == OFFICIAL:
        return OfficialStyleDiTAC().to(device).train()
    cfg = dict(type=name)
    if name == 'SwishBeta':
        cfg.update(per_channel=True)
    if issubclass(mmact.get_activation(name), DiTACBase):
        cfg.update(init=init)
    act = mmact.build_activation(cfg)
    if isinstance(act, ChannelwiseActivation) and not act.channels_known:
        act.set_channels(channels, 1)
    params_dtype = dtype if dtype == torch.float64 else torch.float32
    return act.to(device=device, dtype=params_dtype).train()


def run(names: List[str], numel: int, device: str, dtype: torch.dtype,
        repeats: int, rounds: int = 1, inputs: str = 'normal',
        init: str = 'identity') -> List[dict]:
    """Times each name ``repeats`` times interleaved with GELU, in
    ``rounds`` passes over all names (a burst of machine noise then hits one
    pass, not all samples of a row); medians over all samples."""
    device = torch.device(device)
    torch.manual_seed(0)
    channels = 64
    shape = (max(1, numel // (channels * 64 * 64)), channels, 64, 64)
    base = make_input(inputs, shape, device, dtype)
    grad = torch.randn_like(base)
    gelu = F.gelu
    warm = base.clone().requires_grad_(True)
    for _ in range(5):  # first large allocations (the heap settles)
        fwd_bwd_ms(gelu, warm, grad)
    acts = {name: build(name.removesuffix(PYTORCH_PATH), channels, device,
                        dtype, init) for name in names}
    times = {name: ([], []) for name in names}
    memory = {}
    for round_ in range(rounds):
        for name in names:
            act, (t_gelu, t_act) = acts[name], times[name]
            x = base.clone().requires_grad_(True)
            path = cpu_kernels(False) if name.endswith(PYTORCH_PATH) \
                else contextlib.nullcontext()
            with path:
                if round_ == 0:
                    for _ in range(3):  # warm-up (tables, allocator)
                        for fn in (gelu, act):
                            fwd_bwd_ms(fn, x, grad)
                    memory[name] = (saved_bytes(gelu, x), saved_bytes(act, x))
                for _ in range(repeats):  # interleaved: same machine state
                    t_gelu.append(fwd_bwd_ms(gelu, x, grad))
                    t_act.append(fwd_bwd_ms(act, x, grad))
    rows = []
    for name in names:
        g_ms, a_ms = (statistics.median(t) for t in times[name])
        mem_gelu, mem_act = memory[name]
        # Element-wise traffic: forward reads x, writes y; backward reads x
        # and grad_y, writes grad_x (GELU's traffic, the physical floor).
        traffic = 5 * base.numel() * base.element_size()
        rows.append(dict(name=name, numel=base.numel(), dtype=str(dtype)[6:],
                         inputs=inputs, init=init,
                         device=str(device), runs=repeats * rounds,
                         gelu_ms=round(g_ms, 3),
                         act_ms=round(a_ms, 3),
                         time_ratio=round(a_ms / g_ms, 2),
                         gbps=round(traffic / a_ms / 1e6, 1),
                         saved_mb=round(mem_act / 2**20, 2),
                         memory_ratio=round(mem_act / mem_gelu, 3)))
        print(f"{name:>10}: {a_ms:8.2f} ms vs GELU {g_ms:7.2f} ms "
              f"(x{a_ms / g_ms:.2f}), saved x{mem_act / mem_gelu:.3f}",
              flush=True)
    return rows


def machine(device: str) -> str:
    if device.startswith('cuda'):
        return torch.cuda.get_device_name()
    isa = cpu_isa()
    return (f'{platform.processor() or platform.machine()}, '
            f'{torch.get_num_threads()} threads'
            + (f', mmact kernels in {isa}' if isa else ''))


def write(rows: List[dict], device: str, name: str = '',
          peak_gbps: float = 0.0, kept_freed: bool = False) -> Path:
    stem = RESULTS / (name or f"activations_{device.split(':')[0]}")
    write_csv(rows, stem.with_suffix('.csv'))
    lines = [
        f'Machine: {machine(device)}; torch {torch.__version__}; '
        f'{rows[0]["numel"]} {rows[0]["dtype"]} elements ({rows[0]["inputs"]}'
        f' inputs, DiTAC init={rows[0]["init"]}), forward + backward;'
        f' medians of {rows[0]["runs"]} runs per row, interleaved with GELU'
        + ('; freed memory kept in the process' if kept_freed else ''),
        '', '| activation | ms | GELU ms | time / GELU | GB/s | of peak | '
        'saved MiB | saved / GELU |', '|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        share = f"{r['gbps'] / peak_gbps:.2f}" if peak_gbps else '-'
        lines.append(f"| {r['name']} | {r['act_ms']} | {r['gelu_ms']} | "
                     f"{r['time_ratio']} | {r['gbps']} | {share} | "
                     f"{r['saved_mb']} | {r['memory_ratio']} |")
    write_markdown(lines, stem.with_suffix('.md'))
    return stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--names', nargs='+',
                        help='default: every registered activation')
    parser.add_argument('--numel', type=int, default=1 << 22)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dtype', default='float32',
                        choices=['float32', 'float16', 'bfloat16'])
    parser.add_argument('--repeats', type=int, default=7,
                        help='interleaved runs per name and round')
    parser.add_argument('--rounds', type=int, default=3,
                        help='passes over all names')
    parser.add_argument('--peak-gbps', type=float, default=0.0,
                        help="the device's memory bandwidth (e.g. ~3000 for "
                        'an H100), to report achieved bandwidth as a fraction')
    parser.add_argument('--inputs', default='normal', choices=INPUTS,
                        help='N(0, 1), N(0, 1.5^2), or uniform over '
                        "DiTAC's default window [-0.5, 2]")
    parser.add_argument('--init', default='identity',
                        choices=['identity', 'prior'],
                        help="the DiTAC modules' init (prior: a random warp, "
                        'refined table bins)')
    parser.add_argument('--out', default='',
                        help='result file stem under benchmarks/results '
                        '(default: activations_<device>)')
    args = parser.parse_args()
    args.names = args.names or registered_names()
    for name in args.names:
        if name != OFFICIAL:  # fail early, with suggestions
            mmact.get_activation(name.removesuffix(PYTORCH_PATH))
    kept_freed = keep_freed_memory()
    rows = run(args.names, args.numel, args.device,
               getattr(torch, args.dtype), args.repeats, args.rounds,
               args.inputs, args.init)
    stem = write(rows, args.device, args.out, args.peak_gbps, kept_freed)
    print(f'wrote {stem}.csv/.md')


if __name__ == '__main__':
    main()
