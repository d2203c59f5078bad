"""ACON-C with a memory-lean backward.

Autograd on (p1 - p2)x·σ(β(p1 - p2)x) + p2·x keeps several full-size
intermediates; this Function saves only x and the (broadcastable, small)
parameters. With d = p1 - p2, z = β d x, σ = σ(z), h(z) = σ + zσ(1 - σ):

    dy/dx = p2 + d·h(z),   dy/dp1 = x·h(z),   dy/dp2 = x·(1 - h(z)),
    dy/dβ = (d x)²·σ(1 - σ).

CPU float tensors use the compiled kernels of ``csrc/acon.cpp`` when
``mmact._C`` is built: the forward in one pass for any layout; the backward
in one pass that also sums the parameter gradients per sample and channel,
when the parameters vary along one channel dimension (and optionally the
batch) of a dense x — NCHW, channels-last, (B, L, C) tokens; other cases,
and float64 (the reference), use these torch ops.
"""
import math
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ._backend import use_cpu_kernels


class _Layout(NamedTuple):
    """x as (N, M, K) with the channel dim ``dim`` of x outer (M) or inner
    (K) of the view; ``permuted``: NCHW stored channels-last."""
    view: Tensor
    dim: int
    channels_inner: bool
    permuted: bool


def _layout(x: Tensor, params: List[Tensor]) -> Optional[_Layout]:
    """The (N, M, K) view for the fused backward, or None."""
    nd = x.dim()
    if nd < 2:
        return None
    shapes = [(1, ) * (nd - p.dim()) + tuple(p.shape) for p in params]
    dims = {d for s in shapes for d in range(1, nd) if s[d] != 1}
    if len(dims) > 1:
        return None
    dim = dims.pop() if dims else nd - 1
    n, shape = x.shape[0], x.shape
    if nd == 4 and dim == 1 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        return _Layout(x.permute(0, 2, 3, 1).reshape(n, -1, shape[1]), dim,
                       True, True)
    before, after = math.prod(shape[1:dim]), math.prod(shape[dim + 1:])
    if after == 1:
        return _Layout(x.reshape(n, before, shape[dim]), dim, True, False)
    if before == 1:
        return _Layout(x.reshape(n, shape[dim], after), dim, False, False)
    return None


def _as_view(t: Tensor, lay: _Layout) -> Tensor:
    """t (x's shape) in the layout's (N, M, K) view, float32, contiguous."""
    if lay.permuted:
        t = t.permute(0, 2, 3, 1)
    return t.reshape(lay.view.shape).float().contiguous()


def _per_sample_channel(p: Tensor, nd: int, dim: int, n: int,
                        c: int) -> Tensor:
    p = p.reshape((1, ) * (nd - p.dim()) + tuple(p.shape))
    return p.reshape(p.shape[0], p.shape[dim]).expand(n, c).float() \
        .contiguous()


def _reduce_to(g: Tensor, p: Tensor, nd: int, dim: int) -> Tensor:
    """(N, C) sums -> the gradient of p (its shape and dtype)."""
    shape = (1, ) * (nd - p.dim()) + tuple(p.shape)
    if shape[0] == 1:
        g = g.sum(0, keepdim=True)
    if shape[dim] == 1:
        g = g.sum(1, keepdim=True)
    return g.reshape(p.shape).to(p.dtype)


def _cpu_backward(x: Tensor, g: Tensor, params: List[Tensor],
                  needs: Tuple[bool, ...]) -> Optional[Tuple]:
    lay = _layout(x, params)
    if lay is None:
        return None
    n, c = lay.view.shape[0], lay.view.shape[2 if lay.channels_inner else 1]
    p1, p2, beta = (_per_sample_channel(p, x.dim(), lay.dim, n, c)
                    for p in params)
    gx, sums = torch.ops.mmact.acon_backward(
        _as_view(x, lay), _as_view(g, lay), p1, p2, beta, lay.channels_inner)
    if lay.permuted:
        gx = gx.view(n, x.shape[2], x.shape[3], c).permute(0, 3, 1, 2)
    grads = [gx.view(x.shape).to(x.dtype)]
    terms = (sums[..., 0], sums[..., 1] - sums[..., 0], sums[..., 2])
    for need, term, p in zip(needs[1:], terms, params):
        grads.append(_reduce_to(term, p, x.dim(), lay.dim) if need else None)
    return tuple(grads)


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
        d = (p1 - p2) * x
        return d * torch.sigmoid(beta * d) + p2 * x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor) -> Tuple[Tensor, ...]:
        x, p1, p2, beta = ctx.saved_tensors
        if use_cpu_kernels(x):
            grads = _cpu_backward(x, g, [p1, p2, beta],
                                  ctx.needs_input_grad)
            if grads is not None:
                return grads
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
