"""The view the fused per-channel backward kernels (ACON-C, PDELU; see
``csrc/channel_reduce.h``) work on: x as (N, M, K) with the channel outer
(M, e.g. NCHW) or inner (K: channels-last, (B, L, C) tokens), parameters as
(N, C), and their gradients summed per sample and channel in the kernel."""
import math
from typing import Callable, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor


class Layout(NamedTuple):
    """x viewed as ``shape`` (N, M, K), the channel ``dim`` of x outer (M)
    or inner (K) of the view; ``permuted``: NCHW stored channels-last."""
    shape: Tuple[int, int, int]
    dim: int
    channels_inner: bool
    permuted: bool


def _padded(p: Tensor, nd: int) -> Tuple[int, ...]:
    return (1, ) * (nd - p.dim()) + tuple(p.shape)


def layout(x: Tensor, params: List[Tensor]) -> Optional[Layout]:
    """The (N, M, K) view when the parameters vary along at most one
    non-batch dim of x, and x is (or copies into) a layout with that dim
    outer or inner; else None (the caller's torch path serves)."""
    nd = x.dim()
    if nd < 2:
        return None
    dims = {d for p in params for d, size in enumerate(_padded(p, nd))
            if d > 0 and size != 1}
    if len(dims) > 1:
        return None
    dim = dims.pop() if dims else nd - 1
    n, shape = x.shape[0], x.shape
    if nd == 4 and dim == 1 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        return Layout((n, shape[2] * shape[3], shape[1]), dim, True, True)
    before, after = math.prod(shape[1:dim]), math.prod(shape[dim + 1:])
    if after == 1:
        return Layout((n, before, shape[dim]), dim, True, False)
    if before == 1:
        return Layout((n, shape[dim], after), dim, False, False)
    return None


def _as_view(t: Tensor, lay: Layout) -> Tensor:
    if lay.permuted:
        t = t.permute(0, 2, 3, 1)
    return t.reshape(lay.shape).float().contiguous()


def reduce_to(sums: Tensor, p: Tensor, dim: int, nd: int) -> Tensor:
    """(N, C) sums -> the gradient of p (its shape and dtype)."""
    shape = _padded(p, nd)
    if shape[0] == 1:
        sums = sums.sum(0, keepdim=True)
    if shape[dim] == 1:
        sums = sums.sum(1, keepdim=True)
    return sums.reshape(p.shape).to(p.dtype)


def fused_backward(kernel: Callable, x: Tensor, grad: Tensor,
                   params: List[Tensor], *args
                   ) -> Optional[Tuple[Tensor, Tensor, Layout]]:
    """(grad_x in x's shape and dtype, (N, C, S) float64 sums, layout) from
    ``kernel(x_view, grad_view, *params_nc, *args, channels_inner)``, or
    None when x's layout does not fit."""
    lay = layout(x, params)
    if lay is None:
        return None
    n, m, k = lay.shape
    c = k if lay.channels_inner else m
    nd = x.dim()
    params_nc = []
    for p in params:
        shape = _padded(p, nd)
        params_nc.append(p.reshape(shape[0], shape[lay.dim]).expand(n, c)
                         .float().contiguous())
    gx, sums = kernel(_as_view(x, lay), _as_view(grad, lay), *params_nc,
                      *args, lay.channels_inner)
    if lay.permuted:
        gx = gx.view(n, x.shape[2], x.shape[3], c).permute(0, 3, 1, 2)
    return gx.view(x.shape).to(x.dtype), sums, lay
