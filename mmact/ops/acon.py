"""ACON-C with a memory-lean backward.

Autograd on (p1 - p2)x·σ(β(p1 - p2)x) + p2·x keeps several full-size
intermediates; this Function saves only x and the (broadcastable, small)
parameters. With d = p1 - p2, z = β d x, σ = σ(z), h(z) = σ + zσ(1 - σ):

    dy/dx = p2 + d·h(z),   dy/dp1 = x·h(z),   dy/dp2 = x·(1 - h(z)),
    dy/dβ = (d x)²·σ(1 - σ).
"""
from typing import Tuple

import torch
from torch import Tensor


class AconCFunction(torch.autograd.Function):
    """y = ACON-C(x; p1, p2, β), parameters broadcastable against x."""

    @staticmethod
    def forward(ctx, x: Tensor, p1: Tensor, p2: Tensor,
                beta: Tensor) -> Tensor:
        ctx.save_for_backward(x, p1, p2, beta)
        d = (p1 - p2) * x
        return d * torch.sigmoid(beta * d) + p2 * x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor) -> Tuple[Tensor, ...]:
        x, p1, p2, beta = ctx.saved_tensors
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
