"""The DiTAC op: table lookup with linear interpolation, fused per chunk.

The tables of T and dT/dθ come from :func:`build_table` (integrated by the
kernels of :mod:`mmact.ops.cpab`).

Forward reads x and writes y; backward reads x and grad_y and writes
grad_x. Only x (and the tiny tables) are saved, so the activation memory
equals GELU's. The θ-gradient never forms per-element d-vectors: it is a
histogram of the upstream gradient over the table's G bins (two
scatter-adds: weights (1 - w) and w of the interpolation), multiplied by
the G x d table of dT/dθ.

Outside the window the non-``'inf'`` variants need x̃ = x. Instead of a
mask, the table is extended by one "identity" bin on each side whose
segment is the line x̃ = x, with the interpolation weight left unclamped;
``'inf'`` extrapolates its end segments the same way. So one gather-lerp
gives x̃ for every input.

CPU tensors run the compiled kernels of ``csrc/ditac.cpp`` (one fused
pass per direction, AVX2 lanes, per-thread float64 histograms) when
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
``MMACT_THETA_REDUCTION=histogram|partials`` picks one otherwise
(default ``histogram``); the GPU check measures both.
"""
import functools
import math
import os
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ..functional import cpab as F_cpab
from ..functional import ditac as F_ditac
from . import cpab
from ._backend import (compute_dtype, differentiable_backward, tl, triton,
                       use_cpu_kernels, use_triton)

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
    """T on the grid u_j = j / (G - 1), and dT/dθ there (G x d) or None."""
    T: Tensor
    J: Optional[Tensor]


def build_table(theta: Tensor,
                num_cells: int,
                size: int,
                variant: str,
                with_grad: bool = True,
                dtype: torch.dtype = torch.float32) -> Table:
    """Tables of T_θ and dT_θ/dθ on ``size`` grid points of θ's device,
    integrated in float64 (:func:`mmact.ops.cpab.integrate`)."""
    grid = torch.linspace(0, 1, size, dtype=torch.float64,
                          device=theta.device)
    flow = cpab.integrate(grid, theta, num_cells,
                          F_ditac.zero_boundary(variant),
                          with_grad_theta=with_grad)
    J = flow.grad_theta.to(dtype) if with_grad else None
    return Table(flow.T.to(dtype), J)


class LerpTable(NamedTuple):
    """x̃ = base[k] + w * step[k] with k = clamp(floor(s), lo, hi) + offset,
    w = s - clamp(floor(s), lo, hi), s = (x - a) * scale."""
    base: Tensor
    step: Tensor
    scale: float
    lo: int
    hi: int
    offset: int


def lerp_table(T: Tensor, spec: DiTACSpec) -> LerpTable:
    """The extended interpolation table for T on a uniform grid of Ω."""
    G = T.numel()
    width = spec.b - spec.a
    base = spec.a + width * T[:-1]
    step = width * (T[1:] - T[:-1])
    scale = (G - 1) / width
    if spec.variant == 'inf':
        return LerpTable(base, step, scale, 0, G - 2, 0)
    h = torch.full((1, ), width / (G - 1), dtype=T.dtype, device=T.device)
    base = torch.cat([base.new_tensor([spec.a]) - h, base,
                      base.new_tensor([spec.b])])
    return LerpTable(base, torch.cat([h, step, h]), scale, -1, G - 1, 1)


def _locate(x: Tensor, lt: LerpTable, spec: DiTACSpec):
    # Out of place where autograd records it (the reference's graph).
    s = (x - spec.a) * lt.scale
    # NaN -> cell 0 (±inf reach the end cells through the clamp); where +
    # isnan rather than nan_to_num, which exports as nine ONNX operators.
    k = s.detach()
    k = torch.where(torch.isnan(k), 0.0, k).floor_().clamp_(lt.lo, lt.hi)
    w = s - k
    idx = k.add_(lt.offset).to(torch.int32)
    step = lt.step.index_select(0, idx)
    warped = torch.addcmul(lt.base.index_select(0, idx), w, step)
    return idx, w, warped, step


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


def ditac_warp(x: Tensor, T: Tensor, spec: DiTACSpec) -> Tensor:
    """x̃ for input values, exactly as the forward computes it."""
    cd = compute_dtype(x)
    return _locate(x.to(cd), lerp_table(T.to(cd), spec), spec)[2]


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


def ditac_reference(x: Tensor, theta: Tensor, size: int,
                    spec: DiTACSpec) -> Tensor:
    """The op as plain autograd in float64, from θ itself: the same
    interpolated function of x as the forward, on a table of ``size``
    points integrated differentiably in θ (:func:`cpab.integrate` of
    :mod:`mmact.functional`). Its derivatives of every order are those of
    the op the forward computes, θ-terms through the table included."""
    zb = F_ditac.zero_boundary(spec.variant)
    grid = torch.linspace(0, 1, size, dtype=torch.float64, device=x.device)
    T = F_cpab.integrate(grid, theta, F_cpab.num_cells(theta.numel(), zb),
                         zb).T
    return _interpolate(x, T, spec, torch.float64)


def ditac_traced(x: Tensor, T: Tensor, spec: DiTACSpec) -> Tensor:
    """y as one plain PyTorch expression over the whole tensor, for graphs
    captured for export: a gather from the table T (a constant of the
    graph), the interpolation and the multiplier; computed as the forward
    computes it (float32, float64 for float64 x)."""
    return _interpolate(x, T, spec, compute_dtype(x))


def _interpolate(x: Tensor, T: Tensor, spec: DiTACSpec,
                 dtype: torch.dtype) -> Tensor:
    y = _forward_chunk(x.reshape(-1).to(dtype), lerp_table(T.to(dtype), spec),
                       spec)
    return y.view(x.shape).to(x.dtype)


def ditac_forward(x: Tensor, T: Tensor, spec: DiTACSpec) -> Tensor:
    """y for any x (computed in float32, or float64 for float64 x)."""
    cd = compute_dtype(x)
    lt = lerp_table(T.to(cd), spec)
    if use_triton(x):
        return triton_forward(x, lt, spec)
    if use_cpu_kernels(x):
        return cpu_forward(x, lt, spec)
    flat = x.reshape(-1)
    out = torch.empty_like(flat)
    for start in range(0, flat.numel(), CHUNK):
        chunk = flat[start:start + CHUNK].to(cd)
        out[start:start + CHUNK] = _forward_chunk(chunk, lt, spec)
    return out.view(x.shape)


def ditac_backward(x: Tensor, grad_y: Tensor, T: Tensor, J: Tensor,
                   spec: DiTACSpec) -> Tuple[Tensor, Tensor]:
    """(grad_x, grad_θ) of the interpolated op."""
    cd = compute_dtype(x)
    lt = lerp_table(T.to(cd), spec)
    if use_triton(x):
        if theta_reduction() == 'partials':
            return triton_backward_partials(x, grad_y, lt, J, spec)
        grad_x, hist = triton_backward(x, grad_y, lt, spec)
        return grad_x, theta_grad(hist[:, 0], hist[:, 1], J, lt, spec)
    if use_cpu_kernels(x):
        grad_x, hist = cpu_backward(x, grad_y, lt, spec)
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


def _tables(lt: LerpTable) -> Tuple[Tensor, Tensor]:
    """base and step as the kernels read them (float32, contiguous)."""
    return lt.base.float().contiguous(), lt.step.float().contiguous()


def _cpu_args(lt: LerpTable, spec: DiTACSpec) -> tuple:
    return (*_tables(lt), float(spec.a), float(lt.scale), lt.lo, lt.hi,
            lt.offset, VARIANT_CODES[spec.variant],
            float(spec.negative_slope))


def cpu_forward(x: Tensor, lt: LerpTable, spec: DiTACSpec) -> Tensor:
    """The compiled CPU forward (``torch.ops.mmact.ditac_forward``)."""
    y = torch.ops.mmact.ditac_forward(_dense(x.float()), *_cpu_args(lt, spec))
    return y.to(x.dtype)


def cpu_backward(x: Tensor, grad_y: Tensor, lt: LerpTable,
                 spec: DiTACSpec) -> Tuple[Tensor, Tensor]:
    """The compiled CPU backward: (grad_x, (bins, 2) float64 histogram)."""
    xd = _dense(x.float())
    grad_x, hist = torch.ops.mmact.ditac_backward(
        xd, _same_layout(grad_y.float(), xd), *_cpu_args(lt, spec))
    return grad_x.to(x.dtype), hist


def theta_grad(hist: Tensor, hist_w: Tensor, J: Tensor, lt: LerpTable,
               spec: DiTACSpec) -> Tensor:
    """dL/dθ from the bin histograms: x̃ = a + (b - a)((1-w)T_k + w T_k+1)."""
    G = J.shape[0]
    h0 = hist[lt.offset:lt.offset + G - 1]
    h1 = hist_w[lt.offset:lt.offset + G - 1]
    J = J.to(torch.float64)
    return (spec.b - spec.a) * (J[:-1].T @ (h0 - h1) + J[1:].T @ h1)


# ---------------------------------------------------------------- Triton
BLOCK = 1024
HIST_COPIES = 64
# Elements per program of the partials backward: each holds a
# (PARTIAL_BLOCK, D_PAD) block of dT/dθ rows in registers.
PARTIAL_BLOCK = 256
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

    @triton.jit
    def _locate_tl(x, base_ptr, step_ptr, a, scale, lo, hi, offset):
        s = (x - a) * scale
        k = tl.where(s == s, tl.floor(s), 0.0)
        k = tl.minimum(tl.maximum(k, lo), hi)
        w = s - k
        idx = k.to(tl.int32) + offset
        step = tl.load(step_ptr + idx)
        warped = tl.load(base_ptr + idx) + w * step
        return idx, w, warped, step

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
    def _ditac_fwd_kernel(x_ptr, y_ptr, base_ptr, step_ptr, n, a, scale,
                          slope, lo, hi, offset, VARIANT: tl.constexpr,
                          BLOCK: tl.constexpr):
        offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        idx, w, warped, step = _locate_tl(x, base_ptr, step_ptr, a, scale,
                                          lo, hi, offset)
        m, dm = _multiplier_tl(x, warped, slope, VARIANT)
        tl.store(y_ptr + offs, (warped * m).to(y_ptr.dtype.element_ty),
                 mask=mask)

    @triton.jit
    def _bwd_elements(x_ptr, g_ptr, gx_ptr, base_ptr, step_ptr, n, a, scale,
                      slope, lo, hi, offset, VARIANT: tl.constexpr,
                      BLOCK: tl.constexpr):
        # What both backward kernels do per element: grad_x, stored; returns
        # what the θ-reductions need (program, mask, bin, weight, g·m).
        pid = tl.program_id(0)
        offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        idx, w, warped, step = _locate_tl(x, base_ptr, step_ptr, a, scale,
                                          lo, hi, offset)
        m, dm = _multiplier_tl(x, warped, slope, VARIANT)
        e = g * m
        gx = step * scale * e + warped * dm * g
        tl.store(gx_ptr + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        return pid, mask, idx, w, e

    @triton.jit
    def _ditac_bwd_kernel(x_ptr, g_ptr, gx_ptr, hist_ptr, base_ptr,
                          step_ptr, n, bins, a, scale, slope, lo, hi, offset,
                          VARIANT: tl.constexpr, COPIES: tl.constexpr,
                          BLOCK: tl.constexpr):
        pid, mask, idx, w, e = _bwd_elements(
            x_ptr, g_ptr, gx_ptr, base_ptr, step_ptr, n, a, scale, slope, lo,
            hi, offset, VARIANT, BLOCK)
        row = hist_ptr + ((pid % COPIES) * bins + idx) * 2
        tl.atomic_add(row, e, mask=mask)
        tl.atomic_add(row + 1, e * w, mask=mask)

    @triton.jit
    def _ditac_bwd_partial_kernel(x_ptr, g_ptr, gx_ptr, J_ptr, part_ptr,
                                  base_ptr, step_ptr, n, G, d, a, scale,
                                  slope, lo, hi, offset,
                                  VARIANT: tl.constexpr, D_PAD: tl.constexpr,
                                  BLOCK: tl.constexpr):
        pid, mask, idx, w, e = _bwd_elements(
            x_ptr, g_ptr, gx_ptr, base_ptr, step_ptr, n, a, scale, slope, lo,
            hi, offset, VARIANT, BLOCK)
        # Table row k of the bin; the identity bins outside the window
        # (k = -1, G - 1) do not depend on θ.
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
    return (float(spec.a), float(lt.scale), float(spec.negative_slope),
            float(lt.lo), float(lt.hi), int(lt.offset))


def triton_forward(x: Tensor, lt: LerpTable, spec: DiTACSpec) -> Tensor:
    """The fused Triton forward (CUDA, or CPU under TRITON_INTERPRET=1)."""
    xd = _dense(x)
    out = torch.empty_like(xd)
    n = xd.numel()
    if n:
        _ditac_fwd_kernel[(triton.cdiv(n, BLOCK), )](
            xd, out, *_tables(lt), n, *_launch_args(lt, spec),
            VARIANT=VARIANT_CODES[spec.variant], BLOCK=BLOCK)
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
            xd, g, grad_x, hist, *_tables(lt), n, bins,
            *_launch_args(lt, spec),
            VARIANT=VARIANT_CODES[spec.variant], COPIES=HIST_COPIES,
            BLOCK=BLOCK)
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
            xd, g, grad_x, J.float().contiguous(), partials, *_tables(lt), n,
            G, d, *_launch_args(lt, spec),
            VARIANT=VARIANT_CODES[spec.variant], D_PAD=d_pad,
            BLOCK=PARTIAL_BLOCK)
    grad_theta = partials[:, :d].sum(0, dtype=torch.float64)
    return grad_x, (spec.b - spec.a) * grad_theta


class DiTACFunction(torch.autograd.Function):
    """y = DiTAC(x; θ) from precomputed tables T (G,) and J = dT/dθ (G, d).

    The backward is the fused one; when autograd records it
    (``create_graph=True``: gradient penalties), it is the gradient of
    :func:`ditac_reference` instead, so second and higher derivatives — in
    x and θ — are those of the interpolated op the forward computes,
    consistent with its first derivative.
    """

    @staticmethod
    def forward(ctx, x: Tensor, theta: Tensor, T: Tensor, J: Tensor,
                spec: DiTACSpec) -> Tensor:
        ctx.save_for_backward(x, theta, T, J)
        ctx.spec = spec
        return ditac_forward(x, T, spec)

    @staticmethod
    def backward(ctx, grad_y: Tensor):
        x, theta, T, J = ctx.saved_tensors
        if torch.is_grad_enabled():
            grad_x, grad_theta = differentiable_backward(
                functools.partial(ditac_reference, size=T.numel(),
                                  spec=ctx.spec), (x, theta), grad_y,
                ctx.needs_input_grad[:2])
            return grad_x, grad_theta, None, None, None
        grad_x, grad_theta = ditac_backward(x, grad_y, T, J, ctx.spec)
        return grad_x, grad_theta.to(theta.dtype), None, None, None


def apply_ditac(x: Tensor, theta: Tensor, T: Tensor, J: Tensor,
                spec: DiTACSpec) -> Tensor:
    """Apply the DiTAC op (autograd-aware in x and θ)."""
    return DiTACFunction.apply(x, theta, T, J, spec)
