"""PDELU with a memory-lean backward.

Autograd on the plain formula keeps the clamped input, the base of the
power, the power itself and the mask (4.25x GELU's saved memory per
element); this Function saves only x and α (broadcastable, small) and
recomputes. With f the negative part (:func:`mmact.functional.pdelu`),
b = max(0, 1 + (1 - t)x) and x <= 0:

    dy/dx = α b^(t / (1 - t))  (α e^x in the ELU limit),   dy/dα = f(x);

for x > 0, dy/dx = 1 and dy/dα = 0. When autograd records the backward
(``create_graph=True``) the gradients come from plain autograd on the
formula, differentiable again.

CPU float tensors use the compiled kernels of ``csrc/pdelu.cpp`` when
``mmact._C`` is built: the forward in one pass for any layout; the backward
in one pass that also sums dL/dα per sample and channel
(:mod:`mmact.ops._channels`: NCHW, channels-last, (B, L, C) tokens, scalar
α). Other layouts, and float64 (the reference), use these torch ops. CUDA
tensors in those layouts run the Triton kernels below (same passes).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..functional.elementwise import PDELU_ELU_LIMIT
from ..functional.elementwise import pdelu as F_pdelu
from . import _channels as ch
from ._backend import (compute_dtype, differentiable_backward, exporting,
                       tl, triton, use_cpu_kernels, use_triton)
from ._channels import fused_backward, reduce_to

if triton is not None:

    @triton.jit
    def _negative_part_tl(x, t, ELU: tl.constexpr):
        # (f(x), f'(x)) of min(x, 0); b^p as exp(p log b), b = 0 -> 0.
        neg = tl.minimum(x, 0.0)
        if ELU:
            e = tl.exp(neg)
            return e - 1.0, e
        base = tl.maximum(1.0 + (1.0 - t) * neg, 0.0)
        log_base = tl.log(tl.where(base > 0, base, 1.0))
        f = tl.where(base > 0, tl.exp(log_base / (1.0 - t)), 0.0) - 1.0
        df = tl.where(base > 0, tl.exp(log_base * (t / (1.0 - t))), 0.0)
        return f, df

    @triton.jit
    def _pdelu_fwd_kernel(x_ptr, y_ptr, alpha_ptr, M, K, t,
                          ELU: tl.constexpr, INNER: tl.constexpr,
                          BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
        n, offs, mask, x, rows, cols = ch.tile(x_ptr, M, K, BLOCK_M, BLOCK_K)
        alpha = ch.channel_param(alpha_ptr, n, rows, cols, mask, M, K, INNER)
        f, df = _negative_part_tl(x, t, ELU)
        tl.store(y_ptr + offs, tl.where(x > 0, x, alpha * f), mask=mask)

    @triton.jit
    def _pdelu_bwd_kernel(x_ptr, g_ptr, gx_ptr, part_ptr, alpha_ptr, M, K, t,
                          ELU: tl.constexpr, INNER: tl.constexpr,
                          BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
        n, offs, mask, x, rows, cols = ch.tile(x_ptr, M, K, BLOCK_M, BLOCK_K)
        alpha = ch.channel_param(alpha_ptr, n, rows, cols, mask, M, K, INNER)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0)
        f, df = _negative_part_tl(x, t, ELU)
        positive = x > 0
        tl.store(gx_ptr + offs, tl.where(positive, g, g * alpha * df),
                 mask=mask)
        ch.store_partial(part_ptr, tl.where(positive, 0.0, g * f), n, rows,
                         cols, M, K, 1, 0, INNER)


def triton_forward(x: Tensor, alpha: Tensor, t: float) -> Optional[Tensor]:
    """The Triton forward (float32 inside), or None for layouts it does
    not take."""
    return ch.triton_forward(_pdelu_fwd_kernel, x, [alpha], float(t),
                             ELU=_elu_limit(t))


def triton_backward(xv: Tensor, gv: Tensor, alpha: Tensor, t: float,
                    elu: bool, inner: bool) -> Tuple[Tensor, Tensor]:
    """(grad_x view, (N, C, 1) float64 sums): the CPU kernel's contract
    (:func:`mmact.ops._channels.fused_backward`)."""
    return ch.triton_backward(_pdelu_bwd_kernel, 1, xv, gv, [alpha], inner,
                              float(t), ELU=elu)


def _elu_limit(t: float) -> bool:
    return abs(1.0 - t) < PDELU_ELU_LIMIT


def _negative_part(x: Tensor, t: float) -> Tuple[Tensor, Tensor]:
    """(f(x), f'(x)) for min(x, 0)."""
    neg = x.clamp(max=0)
    if _elu_limit(t):
        return torch.expm1(neg), torch.exp(neg)
    base = neg.mul_(1 - t).add_(1).clamp_(min=0)
    return base.pow(1 / (1 - t)).sub_(1), base.pow_(t / (1 - t))


class PDELUFunction(torch.autograd.Function):
    """y = PDELU(x; α, t), α broadcastable against x."""

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, t: float) -> Tensor:
        ctx.save_for_backward(x, alpha)
        ctx.t = t
        dtype = torch.promote_types(x.dtype, alpha.dtype)
        if use_cpu_kernels(x):
            y = torch.ops.mmact.pdelu_forward(x.float(), alpha.float(), t,
                                              _elu_limit(t))
            return y.to(dtype)
        y = triton_forward(x, alpha, t) if use_triton(x) else None
        return (F_pdelu(x, alpha, t) if y is None else y).to(dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, alpha = ctx.saved_tensors
        t, need_alpha = ctx.t, ctx.needs_input_grad[1]
        if torch.is_grad_enabled():  # create_graph: differentiable backward
            return (*differentiable_backward(
                lambda x, a: F_pdelu(x, a, t), (x, alpha), grad,
                ctx.needs_input_grad[:2]), None)
        kernel = torch.ops.mmact.pdelu_backward if use_cpu_kernels(x) else \
            triton_backward if use_triton(x) else None
        fused = fused_backward(kernel, x, grad, [alpha], t, _elu_limit(t)) \
            if kernel else None
        if fused is not None:
            gx, sums, lay = fused
            return gx, reduce_to(sums[..., 0], alpha, lay.dim, x.dim()) \
                if need_alpha else None, None
        cd = compute_dtype(x)
        xc, g = x.to(cd), grad.to(cd)
        f, df = _negative_part(xc, t)
        positive = xc > 0
        gx = torch.where(positive, g, g * alpha * df).to(x.dtype)
        ga = torch.where(positive, 0.0, g * f).sum_to_size(alpha.shape).to(
            alpha.dtype) if need_alpha else None
        return gx, ga, None


def pdelu(x: Tensor, alpha: Tensor, t: float) -> Tensor:
    """PDELU saving only x and α for the backward (the formula itself when
    exported)."""
    if exporting():
        return F_pdelu(x, alpha, t)
    return PDELUFunction.apply(x, alpha, t)
