"""LayerAct with a memory-lean backward.

Autograd on the plain formula keeps the normalised tensor, the scale and
more for the backward. This Function saves only the input and the
per-row statistics (2 numbers per sample or token) and recomputes the
rest: with q = g·y·s'(n), r = 1 / sqrt(var + α) and c = D (biased) or
D - 1 (unbiased variance),

    dL/dy = g·s(n) + r·(q - mean(q) - n·Σ(q·n) / c).

CPU tensors use the compiled kernels of ``csrc/layeract.cpp`` when
``mmact._C`` is built (the statistics in one read per column block; the
same two passes as below; AVX2 lanes, rows split into column blocks
across threads), else these torch ops; float64 always takes the torch
ops. CUDA tensors use Triton kernels: the forward is torch's fused
var_mean reduction plus one element-wise kernel; the backward is one
kernel that reduces Σq and Σq·n per row (atomics over the row's blocks;
per-block partials under torch.use_deterministic_algorithms) and one
element-wise kernel for dL/dy. When autograd records the backward
(``create_graph=True``) the gradient comes from plain autograd on the
formula, differentiable again.
"""
import torch
from torch import Tensor

from ..functional import layeract as F_la
from ._backend import (compute_dtype, differentiable_backward, exporting,
                       tl, triton, use_cpu_kernels, use_triton)

KINDS = {'silu': 0, 'hard_silu': 1}
BLOCK = 1024


def _compute(t: Tensor) -> Tensor:
    return t.to(compute_dtype(t))


if triton is not None:

    @triton.jit
    def _scale_tl(n, KIND: tl.constexpr):
        # (s(n), s'(n))
        if KIND == 0:
            s = tl.sigmoid(n)
            ds = s * (1.0 - s)
        else:
            s = tl.minimum(tl.maximum(n / 6.0 + 0.5, 0.0), 1.0)
            ds = tl.where((n > -3.0) & (n < 3.0), 1.0 / 6.0, 0.0)
        return s, ds

    @triton.jit
    def _row_block(x_ptr, mean_ptr, rstd_ptr, D, BLOCK: tl.constexpr):
        # This program's block of its row: offsets, mask, x, n and 1/std.
        row = tl.program_id(0)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = cols < D
        offs = row.to(tl.int64) * D + cols
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        rstd = tl.load(rstd_ptr + row)
        n = (x - tl.load(mean_ptr + row)) * rstd
        return row, offs, mask, x, n, rstd

    @triton.jit
    def _la_fwd_kernel(x_ptr, y_ptr, mean_ptr, rstd_ptr, D,
                       KIND: tl.constexpr, BLOCK: tl.constexpr):
        row, offs, mask, x, n, rstd = _row_block(x_ptr, mean_ptr, rstd_ptr,
                                                 D, BLOCK)
        s, ds = _scale_tl(n, KIND)
        tl.store(y_ptr + offs, (x * s).to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _la_bwd_reduce_kernel(x_ptr, g_ptr, mean_ptr, rstd_ptr, sums_ptr, D,
                              KIND: tl.constexpr, DETERMINISTIC: tl.constexpr,
                              BLOCK: tl.constexpr):
        # Row sums Σq, Σq·n: atomically into (rows, 2), or (DETERMINISTIC)
        # one partial per block into (rows, blocks, 2), summed afterwards.
        row, offs, mask, x, n, rstd = _row_block(x_ptr, mean_ptr, rstd_ptr,
                                                 D, BLOCK)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        s, ds = _scale_tl(n, KIND)
        q = g * x * ds
        if DETERMINISTIC:
            out = sums_ptr + (row * tl.num_programs(1) + tl.program_id(1)) * 2
            tl.store(out, tl.sum(q, axis=0))
            tl.store(out + 1, tl.sum(q * n, axis=0))
        else:
            tl.atomic_add(sums_ptr + row * 2, tl.sum(q, axis=0))
            tl.atomic_add(sums_ptr + row * 2 + 1, tl.sum(q * n, axis=0))

    @triton.jit
    def _la_bwd_kernel(x_ptr, g_ptr, dx_ptr, mean_ptr, rstd_ptr, sums_ptr, D,
                       c, KIND: tl.constexpr, BLOCK: tl.constexpr):
        row, offs, mask, x, n, rstd = _row_block(x_ptr, mean_ptr, rstd_ptr,
                                                 D, BLOCK)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        s, ds = _scale_tl(n, KIND)
        q = g * x * ds
        mean_q = tl.load(sums_ptr + row * 2) / D
        qn = tl.load(sums_ptr + row * 2 + 1) / c
        dx = g * s + rstd * (q - mean_q - n * qn)
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)


def triton_forward(r: Tensor, mean: Tensor, rstd: Tensor,
                   kind: str) -> Tensor:
    """Element-wise LayerAct pass over rows ``r`` (groups, D), contiguous."""
    out = torch.empty_like(r)
    rows, D = r.shape
    if r.numel():
        _la_fwd_kernel[(rows, triton.cdiv(D, BLOCK))](
            r, out, mean.float().contiguous(), rstd.float().contiguous(), D,
            KIND=KINDS[kind], BLOCK=BLOCK)
    return out


def triton_backward(r: Tensor, g: Tensor, mean: Tensor, rstd: Tensor,
                    kind: str, unbiased: bool) -> Tensor:
    """dL/dr for rows ``r`` and upstream rows ``g`` (both contiguous)."""
    rows, D = r.shape
    dx = torch.empty_like(r)
    if not r.numel():
        return dx
    mean, rstd = mean.float().contiguous(), rstd.float().contiguous()
    grid = (rows, triton.cdiv(D, BLOCK))
    deterministic = torch.are_deterministic_algorithms_enabled()
    sums = torch.zeros(rows, grid[1] if deterministic else 1, 2,
                       device=r.device, dtype=torch.float32)
    _la_bwd_reduce_kernel[grid](r, g, mean, rstd, sums, D,
                                KIND=KINDS[kind], DETERMINISTIC=deterministic,
                                BLOCK=BLOCK)
    sums = sums.sum(1)
    _la_bwd_kernel[grid](r, g, dx, mean, rstd, sums, D,
                         float(D - int(unbiased)), KIND=KINDS[kind],
                         BLOCK=BLOCK)
    return dx


class LayerActFunction(torch.autograd.Function):
    """a = y · s((y - mean) / sqrt(var + α)), statistics per row."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str, alpha: float, unbiased: bool,
                per_token: bool) -> Tensor:
        rows = F_la.rows(x, per_token)
        r = _compute(rows)
        if use_cpu_kernels(x):
            mean, rstd = (t.view(-1, 1) for t in torch.ops.mmact.
                          layeract_statistics(r.contiguous(), alpha, unbiased))
        else:
            mean, rstd = F_la.statistics(r, alpha, unbiased)
        if use_triton(x):
            out = triton_forward(rows.contiguous(), mean, rstd, kind)
        elif use_cpu_kernels(x):
            out = torch.ops.mmact.layeract_forward(
                r.contiguous(), mean.view(-1), rstd.view(-1), KINDS[kind])
        else:
            out = F_la.scale((r - mean).mul_(rstd), kind).mul_(r)
        ctx.save_for_backward(x, mean, rstd)
        ctx.kind, ctx.unbiased, ctx.per_token = kind, unbiased, per_token
        ctx.alpha = alpha
        return out.view(x.shape).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, mean, rstd = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiable backward
            (dx, ) = differentiable_backward(
                lambda x: F_la.layer_act(x, ctx.kind, ctx.alpha,
                                         ctx.unbiased, ctx.per_token),
                (x, ), grad, (True, ))
            return dx, None, None, None, None
        if use_triton(x):
            dx = triton_backward(
                F_la.rows(x, ctx.per_token).contiguous(),
                F_la.rows(grad.to(x.dtype), ctx.per_token).contiguous(),
                mean, rstd, ctx.kind, ctx.unbiased)
            return dx.view(x.shape), None, None, None, None
        r = _compute(F_la.rows(x, ctx.per_token))
        g = _compute(F_la.rows(grad, ctx.per_token))
        c = r.shape[1] - int(ctx.unbiased)
        if use_cpu_kernels(x):
            dx = torch.ops.mmact.layeract_backward(
                r.contiguous(), g.contiguous(), mean.view(-1), rstd.view(-1),
                KINDS[ctx.kind], float(c))
            return dx.view(x.shape).to(x.dtype), None, None, None, None
        n = (r - mean).mul_(rstd)
        s, ds = F_la.scale_and_grad(n, ctx.kind)
        q = ds.mul_(r).mul_(g)
        qn = (q * n).sum(1, keepdim=True).div_(c)
        mean_q = q.mean(1, keepdim=True)
        dx = q.sub_(mean_q).sub_(n.mul_(qn)).mul_(rstd).addcmul_(g, s)
        return dx.view(x.shape).to(x.dtype), None, None, None, None


def layer_act(x: Tensor, kind: str, alpha: float = 1e-5,
              unbiased: bool = True, per_token: bool = False) -> Tensor:
    """Apply LayerAct (autograd-aware, saving only x and the statistics; the
    formula itself when exported)."""
    if exporting():
        return F_la.layer_act(x, kind, alpha, unbiased, per_token)
    return LayerActFunction.apply(x, kind, alpha, unbiased, per_token)
