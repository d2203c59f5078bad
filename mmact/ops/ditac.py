"""The DiTAC op: table lookup with linear interpolation, fused per chunk.

The tables of T and dT/dθ come from :func:`build_table` (on CPU one
compiled call, ``csrc/ditac_table.cpp``; elsewhere tensor ops around the
integration kernels of :mod:`mmact.ops.cpab`). The table is a uniform grid
of G points whose bins are split, where T bends sharply, into 2^level
equal sub-bins (:func:`refinement`): linear interpolation then stays within
``TABLE_TOLERANCE`` of the closed form for every θ the prior draws, also
where the flow expands a repelling end of the window 100-fold. A lookup
finds the grid bin from x, then the sub-bin: the grid bin and the sub-bin
down to level ``ROUNDED_LEVELS`` from s = (x - a) * scale rounded to
float32 on every path (the CPU kernels read those from a grid that much
finer), deeper ones and the weight w beyond float32 precision (float64; a
compensated product in the CPU kernels), so that rounding of s does not
move x̃ where T is steep.

Forward reads x and writes y; backward reads x and grad_y and writes
grad_x. Only x (and the tiny tables) are saved, so the activation memory
equals GELU's. The θ-gradient never forms per-element d-vectors: it is a
histogram of the upstream gradient over the table's sub-bins (two
scatter-adds: weights (1 - w) and w of the interpolation), multiplied by
the table of dT/dθ (points x d).

Outside the window the non-``'inf'`` variants need x̃ = x. Instead of a
mask, the table is extended by one "identity" bin on each side whose
segment is the line x̃ = x, with the interpolation weight left unclamped;
``'inf'`` extrapolates its end segments the same way. So one gather-lerp
gives x̃ for every input.

CPU tensors run the compiled kernels of ``csrc/ditac_kernels.h`` (one
fused pass per direction, AVX-512 or AVX2 lanes by the machine, one gather
per lookup outside split bins, per-thread float64 histograms) when
``mmact._C`` is built; otherwise, and for float64 (the exact reference),
chunks that stay in cache go through a few vectorised torch ops each (no
per-element Python). CUDA tensors (fp32 / fp16 / bf16) run two fused
Triton kernels: the forward in one pass; the backward in one pass writing
grad_x and scatter-adding into a few private histogram copies
(``HIST_COPIES``, chosen by program id, so atomics rarely collide), which
are summed afterwards. The other θ-reduction, ``'partials'``, uses no
atomics: each program sums its elements' d-vectors (the interpolated rows
of the dT/dθ table times the upstream gradient) into one partial, and the
partials are summed afterwards in a fixed order — bitwise reproducible, so
it is the path under ``torch.use_deterministic_algorithms(True)``.
``MMACT_THETA_REDUCTION=histogram|partials`` picks one otherwise (default
``histogram``); the GPU check measures both.
"""
import functools
import math
import os
import struct
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ..functional import cpab as F_cpab
from ..functional import ditac as F_ditac
from . import cpab
from ._backend import (compute_dtype, cpu_kernels_enabled,
                       differentiable_backward, tl, triton, use_cpu_kernels,
                       use_triton)

INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
INV_SQRT_2 = 1.0 / math.sqrt(2.0)
CHUNK = 1 << 16
VARIANT_CODES = {'ditac': 0, 'ge': 1, 'leaky': 2, 'inf': 3}


class DiTACSpec(NamedTuple):
    """Static settings of one DiTAC op call."""
    a: float
    b: float
    variant: str
    negative_slope: float


class Table(NamedTuple):
    """T_θ (float64) at the table's points (:func:`table_points` of
    ``level``), dT/dθ there (points x d) or None, and the refinement
    ``level`` (G - 1,): bin k of the grid u_k = k / (G - 1) is split into
    2^level[k] sub-bins. ``derived``: what the lookups build from it (per
    compute dtype and spec), kept while the table lives — a module's table
    serves every call until θ changes."""
    T: Tensor
    J: Optional[Tensor]
    level: Tensor
    derived: Optional[Dict[Any, Any]] = None


# The largest error of x̃ (in x units) the refinement aims at; the float32
# kernels add their rounding (~1e-7 relative) to it.
TABLE_TOLERANCE = 1e-6
MAX_LEVEL = 10  # < 16: the CPU kernels pack a level into 4 bits
# Refinement passes after the first: each re-estimates the error of every
# sub-bin from dT/du at the refined points.
REFINE_PASSES = 1
# A lookup picks the sub-bin of x down to this level from s rounded to
# float32, as it picks the grid bin, and only deeper from s itself: the CPU
# kernels then read a sub-bin of those levels from a grid 2^ROUNDED_LEVELS
# times finer with one gather (:func:`_cpu_args`).
ROUNDED_LEVELS = 2


def capacity(size: int) -> int:
    """Sub-bins of a table of ``size`` grid points: fixed, so that shapes do
    not depend on θ (graphs traced by torch.compile, Triton launches)."""
    return 2 * (size - 1)


def _sub_bins(level: Tensor) -> Tuple[Tensor, Tensor]:
    """(grid bin of each of the ``capacity`` sub-bins, the table's points):
    the points are the sub-bins' ends in order, in Ω (float64), those past
    the last sub-bin padding at u = 1."""
    G = level.numel() + 1
    R = 1 << level.long()
    ends = R.cumsum(0)
    slot = torch.arange(capacity(G), device=level.device)
    k = torch.searchsorted(ends, slot, right=True).clamp_(max=G - 2)
    u = (k + (slot - (ends - R)[k]).double() / R[k]) / (G - 1)
    u = torch.where(slot < ends[-1], u, 1.0)
    return k, torch.cat([u, u.new_ones(1)])


def table_points(level: Tensor) -> Tensor:
    """The table's points in Ω (float64): the ends of the sub-bins of the
    refined grid in order, padded with 1 to ``capacity(G) + 1`` points."""
    return _sub_bins(level)[1]


def _error_bound(u: Tensor, grad_u: Tensor, width: float) -> Tensor:
    # Linear interpolation over [u_j, u_j+1] errs by at most
    # h |dT/du(u_j+1) - dT/du(u_j)| / 4 where dT/du is monotone in between.
    est = (u[1:] - u[:-1]) * (grad_u[1:] - grad_u[:-1]).abs() * (width / 4)
    return torch.nan_to_num(est.double(), nan=0.0, posinf=1e300)


def _raise_levels(level: Tensor, bound: Tensor) -> Tensor:
    """``level`` plus what brings each grid bin's error ``bound`` under
    ``TABLE_TOLERANCE`` (halving a bin quarters the error of a C² T), or
    under a 4^i times larger tolerance where that would exceed the
    capacity."""
    need = (0.5 * torch.log2(bound / TABLE_TOLERANCE)).ceil_()
    # For the tolerance TABLE_TOLERANCE * 4^i each bin needs i levels less.
    fewer = torch.arange(MAX_LEVEL + 1, dtype=torch.float64,
                         device=level.device)[:, None]
    levels = (level + (need - fewer).clamp_(min=0)).clamp_(max=MAX_LEVEL)
    levels = torch.cat([levels, level[None].double()])
    fits = (1 << levels.long()).sum(1) <= capacity(level.numel() + 1)
    # index_select, not levels[i]: a tensor index stays a tensor when
    # torch.compile traces it.
    first = fits.to(torch.int8).argmax().view(1)
    return levels.index_select(0, first)[0].to(torch.int32)


def refinement(theta: Tensor, num_cells: int, size: int,
               spec: DiTACSpec) -> Tensor:
    """The level of each bin of the uniform grid of ``size`` points: from
    the error bound on the grid, then ``REFINE_PASSES`` times from the
    bounds of the sub-bins (their largest per grid bin). Static shapes
    throughout: torch.compile traces it."""
    zb, width = F_ditac.zero_boundary(spec.variant), spec.b - spec.a
    # k / (G - 1): _sub_bins' points of level 0, bit for bit.
    grid = torch.arange(size, dtype=torch.float64,
                        device=theta.device) / (size - 1)
    flow = cpab.integrate(grid, theta, num_cells, zb)
    level = _raise_levels(
        torch.zeros(size - 1, dtype=torch.int32, device=theta.device),
        _error_bound(grid, flow.grad_u, width))
    for _ in range(REFINE_PASSES):
        k, u = _sub_bins(level)
        flow = cpab.integrate(u, theta, num_cells, zb)
        bound = torch.zeros(size - 1, dtype=torch.float64,
                            device=theta.device).scatter_reduce_(
            0, k, _error_bound(u, flow.grad_u, width), 'amax')
        level = _raise_levels(level, bound)
    return level


def build_table(theta: Tensor,
                num_cells: int,
                size: int,
                spec: DiTACSpec,
                with_grad: bool = True,
                dtype: torch.dtype = torch.float32) -> Table:
    """The table of T_θ (and dT_θ/dθ in ``dtype``) on a grid of ``size``
    points refined by :func:`refinement`, on θ's device, integrated in
    float64 (:func:`mmact.ops.cpab.integrate`); T stays float64. On CPU
    with the compiled kernels, in one call of the same computation
    (``csrc/ditac_table.cpp``); torch.compile traces the tensor ops."""
    zb = F_ditac.zero_boundary(spec.variant)
    if theta.device.type == 'cpu' and cpu_kernels_enabled() \
            and not torch.compiler.is_compiling():
        A, B = F_cpab.coefficients(theta.detach(), num_cells, zb)
        T, J, level = torch.ops.mmact.ditac_table(
            A, B.contiguous(), size, capacity(size), spec.b - spec.a,
            TABLE_TOLERANCE, MAX_LEVEL, REFINE_PASSES, with_grad)
    else:
        level = refinement(theta, num_cells, size, spec)
        flow = cpab.integrate(table_points(level), theta, num_cells, zb,
                              with_grad_theta=with_grad)
        T, J = flow.T, flow.grad_theta
    J = J.to(dtype) if with_grad else None
    # No memo in a graph torch.compile traces: there the table is rebuilt
    # every call anyway, and state carried out of the graph is refused.
    derived = None if torch.compiler.is_compiling() else {}
    return Table(T, J, level, derived)


class LerpTable(NamedTuple):
    """x̃ = base[j] + w * step[j]. s = (x - a) * scale; grid bin
    k = clamp(floor(s), lo, hi) + offset (bins outside the window at
    offset - 1 and hi + offset); q = (s - k + offset) * refine[k];
    j = first[k] + clamp(floor(q), 0, refine[k] - 1); w = q - j + first[k].
    first and refine are float (exact integers): the Triton kernels gather
    them as floats; the CPU kernels take them packed (:func:`_cpu_args`).
    ``exact``: a and scale in float64 on the table's device, for the
    Triton kernels' s - k (scalar arguments would enter as float32)."""
    base: Tensor
    step: Tensor
    first: Tensor
    refine: Tensor
    exact: Tensor
    scale: float
    lo: int
    hi: int
    offset: int


def lerp_table(T: Tensor, level: Tensor, spec: DiTACSpec,
               dtype: torch.dtype) -> LerpTable:
    """The interpolation tables in ``dtype`` for T (float64) at
    :func:`table_points` of ``level``, extended by one identity bin
    (x̃ = x) on each side for the variants that leave x outside the
    window. The steps are differences of T over sub-bins as narrow as
    1e-6: taken in float64, then rounded."""
    lt = _lerp_table(T, level, spec)
    return lt._replace(**{f: getattr(lt, f).to(dtype)
                          for f in ('base', 'step', 'first', 'refine')})


def _derived(table: Table, key: Any, make: Callable[[], Any]) -> Any:
    if table.derived is None:
        return make()
    if key not in table.derived:
        table.derived[key] = make()
    return table.derived[key]


def _lookup(table: Table, spec: DiTACSpec, dtype: torch.dtype) -> LerpTable:
    return _derived(table, ('lerp', spec, dtype),
                    lambda: lerp_table(table.T, table.level, spec, dtype))


def _lerp_table(T: Tensor, level: Tensor, spec: DiTACSpec) -> LerpTable:
    G = level.numel() + 1
    width = spec.b - spec.a
    base = spec.a + width * T[:-1]
    step = width * (T[1:] - T[:-1])
    refine = torch.exp2(level.to(T.dtype))
    first = refine.cumsum(0) - refine
    scale = (G - 1) / width
    exact = torch.tensor([spec.a, scale], dtype=torch.float64,
                         device=T.device)
    if spec.variant == 'inf':
        return LerpTable(base, step, first, refine, exact, scale, 0, G - 2,
                         0)
    h = torch.full((1, ), width / (G - 1), dtype=T.dtype, device=T.device)
    one = torch.ones_like(h)
    base = torch.cat([base.new_tensor([spec.a]) - h, base,
                      base.new_tensor([spec.b])])
    first = torch.cat([0 * one, first + 1, one * T.numel()])
    return LerpTable(base, torch.cat([h, step, h]), first,
                     torch.cat([one, refine, one]), exact, scale, -1, G - 1,
                     1)


def _floor(t: Tensor) -> Tensor:
    # NaN -> 0 (±inf reach the end bins through the clamps); where + isnan
    # rather than nan_to_num, which exports as nine ONNX operators.
    return torch.where(torch.isnan(t), 0.0, t).floor_()


def grid_split(lt: LerpTable, spec: DiTACSpec) -> Tuple[float, float]:
    """(sc_hi, c_hi): scale rounded to float32, and c = -a * scale rounded
    to a grid coarse enough that c_hi - k is exact in float32 for every
    grid bin k. float32 paths pick the grid bin of x as
    floor(fl(fl(x * sc_hi) + c_hi)), the compiled kernels' choice."""
    # float(): under the TorchScript tracer the sizes behind scale, lo and
    # hi are traced values.
    scale, span = float(lt.scale), float(lt.hi - lt.lo + 2)
    sc_hi = struct.unpack('f', struct.pack('f', scale))[0]
    c = -spec.a * scale
    unit = 2.0**(math.frexp(abs(c) + 2.0 * span)[1] - 24)
    return sc_hi, round(c / unit) * unit


def _locate(x: Tensor, lt: LerpTable, spec: DiTACSpec):
    """(sub-bin j, weight w, x̃, dx̃/ds) for each x. The grid bin, and the
    sub-bin down to ``ROUNDED_LEVELS``, from s in the compute dtype
    (float32: as the kernels round it, so that all paths pick the same
    segment next to an edge), s - k in float64. Out of place where autograd
    records it (the reference's graph)."""
    s = (x.double() - spec.a) * lt.scale
    if x.dtype == torch.float32:
        sc_hi, c_hi = grid_split(lt, spec)
        rounded = x.detach() * sc_hi + c_hi
    else:
        rounded = s.detach()
    k = _floor(rounded).clamp_(lt.lo, lt.hi).to(s.dtype)
    desc = (k + lt.offset).to(torch.int32)
    refine = lt.refine.index_select(0, desc).double()
    q = (s - k) * refine
    # Which of the grid bin's 2^ROUNDED_LEVELS parts the rounded s is in
    # (scaled by a power of 2: exact), and the sub-bins that part holds.
    parts = 2**ROUNDED_LEVELS
    part = (_floor(rounded.double() * parts) - k * parts).clamp_(0, parts - 1)
    first = (part * refine / parts).floor_()
    last = first + (refine / parts).clamp_(min=1) - 1
    sub = torch.minimum(torch.maximum(_floor(q.detach()), first), last)
    w = (q - sub).to(x.dtype)
    idx = (lt.first.index_select(0, desc) + sub.to(lt.first.dtype)).to(
        torch.int32)
    step = lt.step.index_select(0, idx)
    warped = torch.addcmul(lt.base.index_select(0, idx), w, step)
    return idx, w, warped, step * refine.to(x.dtype)


def _normal_cdf(x: Tensor) -> Tensor:
    return torch.erf(x * INV_SQRT_2).add_(1.0).mul_(0.5)


def _multiplier(x: Tensor, warped: Tensor, spec: DiTACSpec,
                with_derivative: bool):
    """m and dm/dx with y = x̃ m (dm/dx None where it is zero)."""
    if spec.variant == 'ditac':
        m = _normal_cdf(x)
        dm = torch.exp(-0.5 * x * x).mul_(INV_SQRT_2PI) if with_derivative \
            else None
        return m, dm
    if spec.variant == 'ge':
        neg = x < 0
        m = torch.where(neg, _normal_cdf(x), 1.0)
        dm = torch.where(neg, torch.exp(-0.5 * x * x) * INV_SQRT_2PI, 0.0) \
            if with_derivative else None
        return m, dm
    if spec.variant == 'leaky':
        one = torch.ones((), dtype=x.dtype, device=x.device)
        return torch.where(warped >= 0, one, one * spec.negative_slope), None
    return None, None


def ditac_warp(x: Tensor, table: Table, spec: DiTACSpec) -> Tensor:
    """x̃ for input values, exactly as the forward computes it."""
    cd = compute_dtype(x)
    return _locate(x.to(cd), _lookup(table, spec, cd), spec)[2]


def _forward_chunk(x: Tensor, lt: LerpTable, spec: DiTACSpec) -> Tensor:
    _, _, warped, _ = _locate(x, lt, spec)
    m, _ = _multiplier(x, warped, spec, False)
    return warped if m is None else warped * m


def _backward_chunk(x: Tensor, g: Tensor, lt: LerpTable, spec: DiTACSpec,
                    hist: Tensor, hist_w: Tensor) -> Tensor:
    idx, w, warped, step = _locate(x, lt, spec)
    m, dm = _multiplier(x, warped, spec, True)
    e = g if m is None else g * m
    gx = step.mul_(lt.scale).mul_(e)
    if dm is not None:
        gx.addcmul_(warped.mul_(dm), g)
    # Chunk-local sums in the compute dtype, the total in float64.
    hist += torch.zeros_like(lt.base).index_add_(0, idx, e)
    hist_w += torch.zeros_like(lt.base).index_add_(0, idx, e * w)
    return gx


def ditac_reference(x: Tensor, theta: Tensor, level: Tensor,
                    spec: DiTACSpec) -> Tensor:
    """The op as plain autograd in float64, from θ itself: the same
    interpolated function of x as the forward, on the table's points
    (:func:`table_points` of ``level``) integrated differentiably in θ
    (:func:`cpab.integrate` of :mod:`mmact.functional`). Its derivatives
    of every order are those of the op the forward computes, θ-terms
    through the table included."""
    zb = F_ditac.zero_boundary(spec.variant)
    T = F_cpab.integrate(table_points(level).to(x.device), theta,
                         F_cpab.num_cells(theta.numel(), zb), zb).T
    return _interpolate(x, T, level, spec, torch.float64)


def _interpolate(x: Tensor, T: Tensor, level: Tensor, spec: DiTACSpec,
                 dtype: torch.dtype) -> Tensor:
    y = _forward_chunk(x.reshape(-1).to(dtype),
                       lerp_table(T, level, spec, dtype), spec)
    return y.view(x.shape).to(x.dtype)


def ditac_forward(x: Tensor, table: Table, spec: DiTACSpec) -> Tensor:
    """y for any x (computed in float32, or float64 for float64 x)."""
    if use_cpu_kernels(x):
        return cpu_forward(x, _cpu_tables(table, spec))
    cd = compute_dtype(x)
    lt = _lookup(table, spec, cd)
    if use_triton(x):
        return triton_forward(x, lt, spec)
    flat = x.reshape(-1)
    out = torch.empty_like(flat)
    for start in range(0, flat.numel(), CHUNK):
        chunk = flat[start:start + CHUNK].to(cd)
        out[start:start + CHUNK] = _forward_chunk(chunk, lt, spec)
    return out.view(x.shape)


def ditac_backward(x: Tensor, grad_y: Tensor, table: Table,
                   spec: DiTACSpec) -> Tuple[Tensor, Tensor]:
    """(grad_x, grad_θ) of the interpolated op (``table`` with J)."""
    J = table.J
    if use_cpu_kernels(x):
        grad_x, hist = cpu_backward(x, grad_y, _cpu_tables(table, spec))
        return grad_x, theta_grad(hist[:, 0], hist[:, 1], J,
                                  _lookup(table, spec, torch.float64), spec)
    cd = compute_dtype(x)
    lt = _lookup(table, spec, cd)
    if use_triton(x):
        if theta_reduction() == 'partials':
            return triton_backward_partials(x, grad_y, lt, J, spec)
        grad_x, hist = triton_backward(x, grad_y, lt, spec)
        return grad_x, theta_grad(hist[:, 0], hist[:, 1], J, lt, spec)
    flat, gflat = x.reshape(-1), grad_y.reshape(-1)
    grad_x = torch.empty_like(flat)
    bins = lt.base.numel()
    hist = torch.zeros(bins, dtype=torch.float64, device=x.device)
    hist_w = torch.zeros_like(hist)
    for start in range(0, flat.numel(), CHUNK):
        sl = slice(start, start + CHUNK)
        grad_x[sl] = _backward_chunk(flat[sl].to(cd), gflat[sl].to(cd), lt,
                                     spec, hist, hist_w)
    return grad_x.view(x.shape), theta_grad(hist, hist_w, J, lt, spec)


def _dense(x: Tensor) -> Tensor:
    """x itself when its storage is dense (contiguous or channels-last):
    an element-wise kernel then runs over storage order, no copy."""
    if x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(
            memory_format=torch.channels_last)) or (x.dim() == 5 and
                                                    x.is_contiguous(
            memory_format=torch.channels_last_3d)):
        return x
    return x.contiguous()


def _same_layout(t: Tensor, like: Tensor) -> Tensor:
    return t if t.stride() == like.stride() else torch.empty_like(
        like).copy_(t)


def _tables(lt: LerpTable) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """base, step, first and refine as the kernels read them (float32,
    contiguous)."""
    return tuple(t.float().contiguous()
                 for t in (lt.base, lt.step, lt.first, lt.refine))


class CpuTable(NamedTuple):
    """A table as the compiled kernels take it: ``args`` of the ops after
    x (and grad); ``order``, ``at``, ``per``: each of its rows is the
    piece of :class:`LerpTable` row ``order`` where that row's weight is
    at + per * the row's own (the histogram goes back through them);
    ``rows``: the LerpTable's."""
    args: tuple
    order: Tensor
    at: Tensor
    per: Tensor
    rows: int


# csrc/ditac_kernels.h's kSplitMarker: the step of a split bin's grid row.
_SPLIT_MARKER = 0x7fc0d17a


def _cpu_args(lt: LerpTable, spec: DiTACSpec) -> CpuTable:
    # The kernels' packing (csrc/ditac_kernels.h), on the grid of the parts
    # of _locate (2^r per grid bin, r = ROUNDED_LEVELS, or the table's
    # deepest level where that is less: where no bin is split, the grid
    # itself): per part a row, the (base, step) of the piece of its sub-bin
    # it covers, or for a part of several sub-bins the marker; then, where
    # there are such parts, the LerpTable's rows, where desc (first * 16 +
    # level) finds their sub-bins. Static shapes under torch.compile.
    dev = lt.refine.device
    depth = torch.log2(lt.refine.double()).long()
    deepest = MAX_LEVEL if torch.compiler.is_compiling() else int(
        depth.max())
    r = min(ROUNDED_LEVELS, deepest)
    n = 2**r
    # Outside the window the last part of the identity bin below it and
    # the first above it, or ('inf') the window's end bins.
    lo, hi = (-1, lt.hi * n) if lt.offset else (0, (lt.hi + 1) * n - 1)
    part = torch.arange(lo, hi + 1, device=dev)
    coarse = torch.div(part, n, rounding_mode='floor')
    part, coarse = part - coarse * n, coarse + lt.offset
    depth = depth[coarse]
    level = (depth - r).clamp(min=0)
    # The part is piece `part % cuts` of `cuts` of sub-bin `sub`, or holds
    # 2^level sub-bins from `sub` on.
    cuts = 2**(r - depth.clamp(max=r))
    sub = lt.first.long()[coarse] + torch.div(part << depth, n,
                                              rounding_mode='floor')
    bins = part.numel()
    rows = lt.base.numel() if deepest > r else 0  # where a part is split
    desc = torch.where(level > 0, sub + bins,
                       torch.arange(bins, device=dev)) * 16 + level
    order = torch.cat([sub, torch.arange(rows, device=dev)])
    f64 = dict(dtype=torch.float64, device=dev)
    at = torch.cat([(part % cuts) / cuts.double(), torch.zeros(rows, **f64)])
    per = torch.cat([1.0 / cuts.double(), torch.ones(rows, **f64)])
    base, step = lt.base.double()[order], lt.step.double()[order]
    pairs = torch.stack([base + at * step, step * per], 1).float()
    marker = torch.tensor([0, _SPLIT_MARKER], dtype=torch.int32,
                          device=dev).view(torch.float32)
    pairs[:bins] = torch.where(level[:, None] > 0, marker, pairs[:bins])
    sc_hi, c_hi = grid_split(lt, spec)
    args = (pairs.contiguous(), desc.int().contiguous(), float(spec.a),
            float(lt.scale) * n, sc_hi * n, c_hi * n, lo, hi, -lo,
            VARIANT_CODES[spec.variant], float(spec.negative_slope))
    return CpuTable(args, order, at, per, lt.base.numel())


def _cpu_tables(table: Table, spec: DiTACSpec) -> CpuTable:
    # From the float64 LerpTable: the pieces' bases are rounded once.
    return _derived(table, ('cpu', spec), lambda: _cpu_args(
        _lookup(table, spec, torch.float64), spec))


def cpu_forward(x: Tensor, cpu: CpuTable) -> Tensor:
    """The compiled CPU forward (``torch.ops.mmact.ditac_forward``)."""
    y = torch.ops.mmact.ditac_forward(_dense(x.float()), *cpu.args)
    return y.to(x.dtype)


def cpu_backward(x: Tensor, grad_y: Tensor,
                 cpu: CpuTable) -> Tuple[Tensor, Tensor]:
    """The compiled CPU backward: (grad_x, (bins, 2) float64 histogram in
    the :class:`LerpTable`'s row order)."""
    xd = _dense(x.float())
    grad_x, hist = torch.ops.mmact.ditac_backward(
        xd, _same_layout(grad_y.float(), xd), *cpu.args)
    # Each row's sums are those of a piece of its LerpTable row, whose
    # weight is at + per w; the grid rows of split bins hold zeros.
    hist = torch.stack(
        [hist[:, 0], cpu.at * hist[:, 0] + cpu.per * hist[:, 1]], 1)
    hist = hist.new_zeros(cpu.rows, 2).index_add_(0, cpu.order, hist)
    return grad_x.to(x.dtype), hist


def theta_grad(hist: Tensor, hist_w: Tensor, J: Tensor, lt: LerpTable,
               spec: DiTACSpec) -> Tensor:
    """dL/dθ from the sub-bin histograms:
    x̃ = a + (b - a)((1 - w) T_j + w T_j+1), T_j at the table's points."""
    G = J.shape[0]
    h0 = hist[lt.offset:lt.offset + G - 1]
    h1 = hist_w[lt.offset:lt.offset + G - 1]
    J = J.to(torch.float64)
    return (spec.b - spec.a) * (J[:-1].T @ (h0 - h1) + J[1:].T @ h1)


# ---------------------------------------------------------------- Triton
BLOCK = 512
HIST_COPIES = 64
# Elements per program of the partials backward: each holds a
# (PARTIAL_BLOCK, D_PAD) block of dT/dθ rows in registers.
PARTIAL_BLOCK = 256
# The DiTAC kernels compile without FMA contraction: _locate_tl rounds
# s = x * sc_hi + c_hi twice, as grid_split and the CPU kernels
# (-ffp-contract=off) do; fused into one FMA, s picks another grid bin or
# part at the knots than the CPU paths.
TRITON_OPTIONS = dict(enable_fp_fusion=False)
THETA_REDUCTIONS = ('histogram', 'partials')


def theta_reduction() -> str:
    """The CUDA θ-gradient reduction: ``'partials'`` under
    ``torch.use_deterministic_algorithms(True)``, else
    ``$MMACT_THETA_REDUCTION`` (default ``'histogram'``)."""
    if torch.are_deterministic_algorithms_enabled():
        return 'partials'
    choice = os.environ.get('MMACT_THETA_REDUCTION', 'histogram')
    if choice not in THETA_REDUCTIONS:
        raise ValueError(f'MMACT_THETA_REDUCTION must be one of '
                         f'{THETA_REDUCTIONS}, got {choice!r}')
    return choice


if triton is not None:
    _PARTS = tl.constexpr(2**ROUNDED_LEVELS)

    @triton.jit
    def _locate_tl(x, base_ptr, step_ptr, first_ptr, refine_ptr, exact_ptr,
                   sc_hi, c_hi, lo, hi, offset):
        # The grid bin as the CPU paths pick it (grid_split); s - k in
        # float64 from a and scale as float64 (exact_ptr: scalar arguments
        # would enter as float32).
        s = x * sc_hi + c_hi
        k = tl.where(s == s, tl.floor(s), 0.0)
        k = tl.minimum(tl.maximum(k, lo), hi)
        desc = k.to(tl.int32) + offset
        refine = tl.load(refine_ptr + desc)
        first = tl.load(first_ptr + desc)
        sd = (x.to(tl.float64) - tl.load(exact_ptr)) * tl.load(exact_ptr + 1)
        q = (sd - k.to(tl.float64)) * refine.to(tl.float64)
        # The sub-bins of the part of the grid bin s is in (ROUNDED_LEVELS).
        sp = s * _PARTS
        part = tl.where(sp == sp, tl.floor(sp), 0.0) - k * _PARTS
        part = tl.minimum(tl.maximum(part, 0.0), _PARTS - 1.0)
        lowest = tl.floor(part * refine / _PARTS)
        highest = lowest + tl.maximum(refine / _PARTS, 1.0) - 1.0
        sub = tl.where(q == q, tl.floor(q), 0.0)
        sub = tl.minimum(tl.maximum(sub, lowest.to(tl.float64)),
                         highest.to(tl.float64))
        w = (q - sub).to(tl.float32)
        idx = (first + sub.to(tl.float32)).to(tl.int32)
        step = tl.load(step_ptr + idx)
        warped = tl.load(base_ptr + idx) + w * step
        return idx, w, warped, step * refine

    @triton.jit
    def _multiplier_tl(x, warped, slope, VARIANT: tl.constexpr):
        # y = x̃ m; returns (m, dm/dx).
        cdf = 0.5 * (1.0 + tl.erf(x * 0.7071067811865476))
        pdf = tl.exp(-0.5 * x * x) * 0.3989422804014327
        if VARIANT == 0:
            m, dm = cdf, pdf
        elif VARIANT == 1:
            m = tl.where(x < 0, cdf, 1.0)
            dm = tl.where(x < 0, pdf, 0.0)
        elif VARIANT == 2:
            m = tl.where(warped >= 0, 1.0, slope)
            dm = tl.zeros_like(x)
        else:
            m = tl.full(x.shape, 1.0, tl.float32)
            dm = tl.zeros_like(x)
        return m, dm

    @triton.jit
    def _ditac_fwd_kernel(x_ptr, y_ptr, base_ptr, step_ptr, first_ptr,
                          refine_ptr, exact_ptr, n, sc_hi, c_hi, slope, lo, hi,
                          offset, VARIANT: tl.constexpr,
                          BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        idx, w, warped, step = _locate_tl(x, base_ptr, step_ptr, first_ptr,
                                          refine_ptr, exact_ptr, sc_hi, c_hi,
                                          lo, hi, offset)
        m, dm = _multiplier_tl(x, warped, slope, VARIANT)
        tl.store(y_ptr + offs, (warped * m).to(y_ptr.dtype.element_ty),
                 mask=mask)

    @triton.jit
    def _bwd_elements(x_ptr, g_ptr, gx_ptr, base_ptr, step_ptr, first_ptr,
                      refine_ptr, exact_ptr, n, sc_hi, c_hi, slope, lo, hi,
                      offset, VARIANT: tl.constexpr, BLOCK: tl.constexpr):
        # What both backward kernels do per element: grad_x, stored; returns
        # what the θ-reductions need (program, mask, bin, weight, g·m).
        pid = tl.program_id(0)
        offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        idx, w, warped, step = _locate_tl(x, base_ptr, step_ptr, first_ptr,
                                          refine_ptr, exact_ptr, sc_hi, c_hi,
                                          lo, hi, offset)
        m, dm = _multiplier_tl(x, warped, slope, VARIANT)
        e = g * m
        gx = step * sc_hi * e + warped * dm * g
        tl.store(gx_ptr + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        return pid, mask, idx, w, e

    @triton.jit
    def _ditac_bwd_kernel(x_ptr, g_ptr, gx_ptr, hist_ptr, base_ptr,
                          step_ptr, first_ptr, refine_ptr, exact_ptr, n, bins,
                          sc_hi, c_hi, slope, lo, hi, offset,
                          VARIANT: tl.constexpr, COPIES: tl.constexpr,
                          BLOCK: tl.constexpr):
        pid, mask, idx, w, e = _bwd_elements(
            x_ptr, g_ptr, gx_ptr, base_ptr, step_ptr, first_ptr, refine_ptr,
            exact_ptr, n, sc_hi, c_hi, slope, lo, hi, offset, VARIANT,
            BLOCK)
        row = hist_ptr + ((pid % COPIES) * bins + idx) * 2
        tl.atomic_add(row, e, mask=mask)
        tl.atomic_add(row + 1, e * w, mask=mask)

    @triton.jit
    def _ditac_bwd_partial_kernel(x_ptr, g_ptr, gx_ptr, J_ptr, part_ptr,
                                  base_ptr, step_ptr, first_ptr, refine_ptr,
                                  exact_ptr, n, G, d, sc_hi, c_hi, slope, lo,
                                  hi, offset, VARIANT: tl.constexpr,
                                  D_PAD: tl.constexpr, BLOCK: tl.constexpr):
        pid, mask, idx, w, e = _bwd_elements(
            x_ptr, g_ptr, gx_ptr, base_ptr, step_ptr, first_ptr, refine_ptr,
            exact_ptr, n, sc_hi, c_hi, slope, lo, hi, offset, VARIANT,
            BLOCK)
        # Table row k of the sub-bin (G: the table's points); the identity
        # bins outside the window (k = -1, G - 1) do not depend on θ.
        k = idx - offset
        inside = mask & (k >= 0) & (k < G - 1)
        cols = tl.arange(0, D_PAD)
        both = inside[:, None] & (cols < d)[None, :]
        rows = J_ptr + k[:, None].to(tl.int64) * d + cols[None, :]
        j0 = tl.load(rows, mask=both, other=0.0)
        j1 = tl.load(rows + d, mask=both, other=0.0)
        contrib = (e * (1.0 - w))[:, None] * j0 + (e * w)[:, None] * j1
        tl.store(part_ptr + pid * D_PAD + cols, tl.sum(contrib, axis=0))


def _backward_buffers(x: Tensor, grad_y: Tensor
                      ) -> Tuple[Tensor, Tensor, Tensor]:
    """(x, grad_y in x's storage order, grad_x to fill) for the kernels."""
    xd = _dense(x)
    return xd, _same_layout(grad_y.to(xd.dtype), xd), torch.empty_like(xd)


def _launch_args(lt: LerpTable, spec: DiTACSpec) -> tuple:
    return (*grid_split(lt, spec), float(spec.negative_slope), float(lt.lo),
            float(lt.hi), int(lt.offset))


def _triton_tables(lt: LerpTable) -> tuple:
    """The tables, then a and scale as a float64 tensor."""
    return (*_tables(lt), lt.exact)


def triton_forward(x: Tensor, lt: LerpTable, spec: DiTACSpec) -> Tensor:
    """The fused Triton forward (CUDA, or CPU under TRITON_INTERPRET=1)."""
    xd = _dense(x)
    out = torch.empty_like(xd)
    n = xd.numel()
    if n:
        _ditac_fwd_kernel[(triton.cdiv(n, BLOCK), )](
            xd, out, *_triton_tables(lt), n, *_launch_args(lt, spec),
            VARIANT=VARIANT_CODES[spec.variant], BLOCK=BLOCK,
            **TRITON_OPTIONS)
    return out


def triton_backward(x: Tensor, grad_y: Tensor, lt: LerpTable,
                    spec: DiTACSpec) -> Tuple[Tensor, Tensor]:
    """The fused Triton backward: (grad_x, (bins, 2) histogram)."""
    xd, g, grad_x = _backward_buffers(x, grad_y)
    bins, n = lt.base.numel(), xd.numel()
    hist = torch.zeros(HIST_COPIES, bins, 2, device=x.device,
                       dtype=torch.float32)
    if n:
        _ditac_bwd_kernel[(triton.cdiv(n, BLOCK), )](
            xd, g, grad_x, hist, *_triton_tables(lt), n, bins,
            *_launch_args(lt, spec),
            VARIANT=VARIANT_CODES[spec.variant], COPIES=HIST_COPIES,
            BLOCK=BLOCK, **TRITON_OPTIONS)
    return grad_x, hist.sum(0, dtype=torch.float64)


def triton_backward_partials(x: Tensor, grad_y: Tensor, lt: LerpTable,
                             J: Tensor, spec: DiTACSpec
                             ) -> Tuple[Tensor, Tensor]:
    """The Triton backward without atomics: (grad_x, grad_θ) from one
    d-vector partial per program, summed in a fixed order."""
    xd, g, grad_x = _backward_buffers(x, grad_y)
    n, (G, d) = xd.numel(), J.shape
    d_pad = triton.next_power_of_2(d)
    programs = triton.cdiv(n, PARTIAL_BLOCK)
    partials = torch.empty(programs, d_pad, device=x.device,
                           dtype=torch.float32)
    if n:
        _ditac_bwd_partial_kernel[(programs, )](
            xd, g, grad_x, J.float().contiguous(), partials,
            *_triton_tables(lt), n, G, d, *_launch_args(lt, spec),
            VARIANT=VARIANT_CODES[spec.variant], D_PAD=d_pad,
            BLOCK=PARTIAL_BLOCK, **TRITON_OPTIONS)
    grad_theta = partials[:, :d].sum(0, dtype=torch.float64)
    return grad_x, (spec.b - spec.a) * grad_theta


class DiTACFunction(torch.autograd.Function):
    """y = DiTAC(x; θ) from a precomputed :class:`Table` (T, J = dT/dθ,
    level).

    The backward is the fused one; when autograd records it
    (``create_graph=True``: gradient penalties), it is the gradient of
    :func:`ditac_reference` instead, so second and higher derivatives — in
    x and θ — are those of the interpolated op the forward computes,
    consistent with its first derivative.
    """

    @staticmethod
    def forward(ctx, x: Tensor, theta: Tensor, T: Tensor, J: Tensor,
                level: Tensor, derived: Optional[dict],
                spec: DiTACSpec) -> Tensor:
        ctx.save_for_backward(x, theta, T, J, level)
        ctx.derived, ctx.spec = derived, spec
        return ditac_forward(x, Table(T, J, level, derived), spec)

    @staticmethod
    def backward(ctx, grad_y: Tensor):
        x, theta, T, J, level = ctx.saved_tensors
        if torch.is_grad_enabled():
            grad_x, grad_theta = differentiable_backward(
                functools.partial(ditac_reference, level=level,
                                  spec=ctx.spec), (x, theta), grad_y,
                ctx.needs_input_grad[:2])
            return grad_x, grad_theta, None, None, None, None, None
        grad_x, grad_theta = ditac_backward(
            x, grad_y, Table(T, J, level, ctx.derived), ctx.spec)
        return (grad_x, grad_theta.to(theta.dtype), None, None, None, None,
                None)


def apply_ditac(x: Tensor, theta: Tensor, table: Table,
                spec: DiTACSpec) -> Tensor:
    """Apply the DiTAC op (autograd-aware in x and θ; ``table`` with J)."""
    return DiTACFunction.apply(x, theta, table.T, table.J, table.level,
                               table.derived, spec)
