"""ACON-C with a memory-lean backward.

Autograd on (p1 - p2)x·σ(β(p1 - p2)x) + p2·x keeps several full-size
intermediates; this Function saves only x and the (broadcastable, small)
parameters. With d = p1 - p2, z = β d x, σ = σ(z), h(z) = σ + zσ(1 - σ):

    dy/dx = p2 + d·h(z),   dy/dp1 = x·h(z),   dy/dp2 = x·(1 - h(z)),
    dy/dβ = (d x)²·σ(1 - σ).

When autograd records the backward (``create_graph=True``), the gradients
come from plain autograd on the formula instead, so they are differentiable
again (gradient penalties).

CPU float tensors use the compiled kernels of ``csrc/acon.cpp`` when
``mmact._C`` is built: the forward in one pass; the backward in one pass
that also sums the parameter gradients per sample and channel
(:mod:`mmact.ops._channels`), when the parameters vary along at most one
non-batch dimension of x — NCHW, channels-last, (B, L, C) tokens; other
cases, and float64 (the reference), use these torch ops. CUDA tensors in
those layouts run the Triton kernels below: the forward in one pass, the
backward in one pass writing grad_x and per-channel partial sums.
"""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from ..functional import acon as F_acon
from . import _channels as ch
from ._backend import (differentiable_backward, exporting, tl, triton,
                       use_cpu_kernels, use_triton)
from ._channels import fused_backward, reduce_to

if triton is not None:

    @triton.jit
    def _acon_tile(x_ptr, p1_ptr, p2_ptr, beta_ptr, M, K, INNER: tl.constexpr,
                   BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
        n, offs, mask, x, rows, cols = ch.tile(x_ptr, M, K, BLOCK_M, BLOCK_K)
        p1 = ch.channel_param(p1_ptr, n, rows, cols, mask, M, K, INNER)
        p2 = ch.channel_param(p2_ptr, n, rows, cols, mask, M, K, INNER)
        beta = ch.channel_param(beta_ptr, n, rows, cols, mask, M, K, INNER)
        return n, offs, mask, x, rows, cols, p1, p2, beta

    @triton.jit
    def _acon_fwd_kernel(x_ptr, y_ptr, p1_ptr, p2_ptr, beta_ptr, M, K,
                         INNER: tl.constexpr, BLOCK_M: tl.constexpr,
                         BLOCK_K: tl.constexpr):
        n, offs, mask, x, rows, cols, p1, p2, beta = _acon_tile(
            x_ptr, p1_ptr, p2_ptr, beta_ptr, M, K, INNER, BLOCK_M, BLOCK_K)
        d = (p1 - p2) * x
        y = d * tl.sigmoid(beta * d) + p2 * x
        tl.store(y_ptr + offs, y, mask=mask)

    @triton.jit
    def _acon_bwd_kernel(x_ptr, g_ptr, gx_ptr, part_ptr, p1_ptr, p2_ptr,
                         beta_ptr, M, K, INNER: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
        n, offs, mask, x, rows, cols, p1, p2, beta = _acon_tile(
            x_ptr, p1_ptr, p2_ptr, beta_ptr, M, K, INNER, BLOCK_M, BLOCK_K)
        g = tl.load(g_ptr + offs, mask=mask, other=0.0)
        d = (p1 - p2) * x
        z = beta * d
        s = tl.sigmoid(z)
        ds = s * (1.0 - s)
        h = s + z * ds
        tl.store(gx_ptr + offs, g * (p2 + (p1 - p2) * h), mask=mask)
        # Σ g x h, Σ g x, Σ g d² σ(1 - σ) per sample and channel.
        ch.store_partial(part_ptr, g * x * h, n, rows, cols, M, K, 3, 0,
                         INNER)
        ch.store_partial(part_ptr, g * x, n, rows, cols, M, K, 3, 1, INNER)
        ch.store_partial(part_ptr, g * d * d * ds, n, rows, cols, M, K, 3, 2,
                         INNER)


def triton_forward(x: Tensor, p1: Tensor, p2: Tensor,
                   beta: Tensor) -> Optional[Tensor]:
    """The Triton forward (float32 inside), or None for layouts it does
    not take."""
    return ch.triton_forward(_acon_fwd_kernel, x, [p1, p2, beta])


def triton_backward(xv: Tensor, gv: Tensor, p1: Tensor, p2: Tensor,
                    beta: Tensor, inner: bool) -> Tuple[Tensor, Tensor]:
    """(grad_x view, (N, C, 3) float64 sums): the CPU kernel's contract
    (:func:`mmact.ops._channels.fused_backward`)."""
    return ch.triton_backward(_acon_bwd_kernel, 3, xv, gv, [p1, p2, beta],
                              inner)


class AconCFunction(torch.autograd.Function):
    """y = ACON-C(x; p1, p2, β), parameters broadcastable against x."""

    @staticmethod
    def forward(ctx, x: Tensor, p1: Tensor, p2: Tensor,
                beta: Tensor) -> Tensor:
        ctx.save_for_backward(x, p1, p2, beta)
        dtype = torch.promote_types(
            torch.promote_types(x.dtype, p1.dtype),
            torch.promote_types(p2.dtype, beta.dtype))
        params = [p1, p2, beta]
        y = ch.fused_forward(torch.ops.mmact.acon_forward, x, params) \
            if use_cpu_kernels(x) else triton_forward(x, *params) \
            if use_triton(x) else None
        return F_acon.acon_c(x, p1, p2, beta) if y is None else y.to(dtype)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tuple[Tensor, ...]:
        x, p1, p2, beta = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiable backward
            return differentiable_backward(F_acon.acon_c, (x, p1, p2, beta),
                                           g, ctx.needs_input_grad)
        kernel = torch.ops.mmact.acon_backward if use_cpu_kernels(x) else \
            triton_backward if use_triton(x) else None
        fused = fused_backward(kernel, x, g, [p1, p2, beta]) if kernel \
            else None
        if fused is not None:
            gx, sums, lay = fused
            terms = (sums[..., 0], sums[..., 1] - sums[..., 0], sums[..., 2])
            return (gx, *(reduce_to(t, p, lay.dim, x.dim()) if need else None
                          for need, t, p in zip(ctx.needs_input_grad[1:],
                                                terms, (p1, p2, beta))))
        dx = (p1 - p2) * x
        z = beta * dx
        s = torch.sigmoid(z)
        ds = s * (1 - s)
        h = s + z * ds
        grads = [None] * 4
        if ctx.needs_input_grad[0]:
            grads[0] = g * (p2 + (p1 - p2) * h)
        gxh = g * x * h if any(ctx.needs_input_grad[1:3]) else None
        if ctx.needs_input_grad[1]:
            grads[1] = gxh.sum_to_size(p1.shape)
        if ctx.needs_input_grad[2]:
            grads[2] = (g * x - gxh).sum_to_size(p2.shape)
        if ctx.needs_input_grad[3]:
            grads[3] = (g * dx * dx * ds).sum_to_size(beta.shape)
        return tuple(grads)


def acon_c(x: Tensor, p1: Tensor, p2: Tensor, beta: Tensor) -> Tensor:
    """ACON-C saving only x and the parameters for the backward (the
    formula itself when exported)."""
    if exporting():
        return F_acon.acon_c(x, p1, p2, beta)
    return AconCFunction.apply(x, p1, p2, beta)


def swish(x: Tensor, beta: Union[float, Tensor]) -> Tensor:
    """x σ(β x) as ACON-C with p1 = 1, p2 = 0: the same fused kernels,
    saving only x (β a number, or a tensor broadcastable against x)."""
    one = x.new_ones(())
    if not isinstance(beta, Tensor):
        beta = one * beta
    return acon_c(x, one, one * 0, beta)
