"""ACON-C with a memory-lean backward.

Autograd on (p1 - p2)x·σ(β(p1 - p2)x) + p2·x keeps several full-size
intermediates; this Function saves only x and the (broadcastable, small)
parameters. With d = p1 - p2, z = β d x, σ = σ(z), h(z) = σ + zσ(1 - σ):

    dy/dx = p2 + d·h(z),   dy/dp1 = x·h(z),   dy/dp2 = x·(1 - h(z)),
    dy/dβ = (d x)²·σ(1 - σ).

CPU float tensors use the compiled kernels of ``csrc/acon.cpp`` when
``mmact._C`` is built: the forward in one pass for any layout; the backward
in one pass that also sums the parameter gradients per sample and channel
(:mod:`mmact.ops._channels`), when the parameters vary along at most one
non-batch dimension of x — NCHW, channels-last, (B, L, C) tokens; other
cases, and float64 (the reference), use these torch ops.
"""
from typing import Tuple

import torch
from torch import Tensor

from ..functional import acon as F_acon
from ._backend import use_cpu_kernels
from ._channels import fused_backward, reduce_to


class AconCFunction(torch.autograd.Function):
    """y = ACON-C(x; p1, p2, β), parameters broadcastable against x."""

    @staticmethod
    def forward(ctx, x: Tensor, p1: Tensor, p2: Tensor,
                beta: Tensor) -> Tensor:
        ctx.save_for_backward(x, p1, p2, beta)
        if use_cpu_kernels(x):
            dtype = torch.promote_types(
                torch.promote_types(x.dtype, p1.dtype),
                torch.promote_types(p2.dtype, beta.dtype))
            return torch.ops.mmact.acon_forward(
                x.float(), p1.float(), p2.float(), beta.float()).to(dtype)
        return F_acon.acon_c(x, p1, p2, beta)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor) -> Tuple[Tensor, ...]:
        x, p1, p2, beta = ctx.saved_tensors
        fused = fused_backward(torch.ops.mmact.acon_backward, x, g,
                               [p1, p2, beta]) if use_cpu_kernels(x) \
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
    """ACON-C saving only x and the parameters for the backward."""
    return AconCFunction.apply(x, p1, p2, beta)
