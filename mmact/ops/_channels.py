"""The view the fused per-channel kernels (ACON-C, PDELU, PReLU; see
``csrc/channel_reduce.h`` and the Triton kernels of their ops) work on: x as
(N, M, K) with the channel outer (M, e.g. NCHW) or inner (K: channels-last,
(B, L, C) tokens), parameters as (N, C), and their gradients summed per
sample and channel in the kernel.

The Triton kernels tile the view by (sample, M-block, K-block) programs;
each program writes its per-channel partial sums, which are summed
afterwards in a fixed order (no atomics: bitwise reproducible)."""
import math
from typing import Callable, List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from ._backend import tl, triton

BLOCK_M, BLOCK_K = 16, 64


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


def as_view(t: Tensor, lay: Layout) -> Tensor:
    if lay.permuted:
        t = t.permute(0, 2, 3, 1)
    return t.reshape(lay.shape).float().contiguous()


def params_nc(params: List[Tensor], lay: Layout, nd: int) -> List[Tensor]:
    """The parameters as contiguous float32 (N, C)."""
    n, m, k = lay.shape
    c = k if lay.channels_inner else m
    out = []
    for p in params:
        shape = _padded(p, nd)
        out.append(p.reshape(shape[0], shape[lay.dim]).expand(n, c).float()
                   .contiguous())
    return out


def from_view(y: Tensor, x: Tensor, lay: Layout) -> Tensor:
    """A (N, M, K) result back in x's shape (and channels-last storage)."""
    if lay.permuted:
        n, c = x.shape[:2]
        y = y.view(n, x.shape[2], x.shape[3], c).permute(0, 3, 1, 2)
    return y.view(x.shape)


if triton is not None:

    @triton.jit
    def tile(x_ptr, M, K, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
        """This program's (BLOCK_M, BLOCK_K) tile of sample n: offsets,
        mask, x (float32), and the row / column indices."""
        n = tl.program_id(0)
        rows = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
        cols = tl.program_id(2) * BLOCK_K + tl.arange(0, BLOCK_K)
        mask = (rows < M)[:, None] & (cols < K)[None, :]
        offs = (n.to(tl.int64) * M + rows[:, None]) * K + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        return n, offs, mask, x, rows, cols

    @triton.jit
    def channel_param(p_ptr, n, rows, cols, mask, M, K,
                      INNER: tl.constexpr):
        """A (N, C) parameter broadcast over the tile."""
        if INNER:
            p = tl.load(p_ptr + n * K + cols, mask=cols < K, other=0.0)
            return tl.broadcast_to(p[None, :], mask.shape)
        p = tl.load(p_ptr + n * M + rows, mask=rows < M, other=0.0)
        return tl.broadcast_to(p[:, None], mask.shape)

    @triton.jit
    def store_partial(part_ptr, v, n, rows, cols, M, K, S, s,
                      INNER: tl.constexpr):
        """Sum ``v`` over the tile's non-channel axis into partial s of
        (N, blocks, C, S): channels inner sum over rows, outer over
        columns."""
        if INNER:
            blk = tl.program_id(1)
            nblk = tl.num_programs(1)
            dst = ((n * nblk + blk) * K + cols) * S + s
            tl.store(part_ptr + dst, tl.sum(v, axis=0), mask=cols < K)
        else:
            blk = tl.program_id(2)
            nblk = tl.num_programs(2)
            dst = ((n * nblk + blk) * M + rows) * S + s
            tl.store(part_ptr + dst, tl.sum(v, axis=1), mask=rows < M)


def triton_grid(lay: Layout) -> Tuple[int, int, int]:
    n, m, k = lay.shape
    return n, triton.cdiv(m, BLOCK_M), triton.cdiv(k, BLOCK_K)


def fused_forward(kernel: Callable, x: Tensor,
                  params: List[Tensor]) -> Optional[Tensor]:
    """``kernel(x_view, *params_nc, channels_inner)`` (a CPU op) over x's
    (N, M, K) view, the result in x's shape (float32); None for layouts the
    kernels do not take."""
    lay = layout(x, params)
    if lay is None:
        return None
    y = kernel(as_view(x, lay), *params_nc(params, lay, x.dim()),
               lay.channels_inner)
    return from_view(y, x, lay)


def triton_forward(kernel, x: Tensor, params: List[Tensor], *scalars,
                   **constexprs) -> Optional[Tensor]:
    """``kernel(x_view, y_view, *params_nc, M, K, *scalars, INNER, ...)``
    over x's (N, M, K) view, the result in x's shape (float32); None for
    layouts the kernels do not take."""
    lay = layout(x, params)
    if lay is None:
        return None
    xv = as_view(x, lay)
    y = torch.empty_like(xv)
    if xv.numel():
        kernel[triton_grid(lay)](
            xv, y, *params_nc(params, lay, x.dim()), *lay.shape[1:],
            *scalars, INNER=lay.channels_inner, BLOCK_M=BLOCK_M,
            BLOCK_K=BLOCK_K, **constexprs)
    return from_view(y, x, lay)


def triton_backward(kernel, sums: int, xv: Tensor, gv: Tensor,
                    params: List[Tensor], inner: bool, *scalars,
                    **constexprs) -> Tuple[Tensor, Tensor]:
    """``kernel(x, g, grad_x, partials, *params, M, K, *scalars, INNER,
    ...)`` over the (N, M, K) view: (grad_x view, (N, C, sums) float64
    sums), the CPU kernels' contract for :func:`fused_backward`."""
    n, m, k = xv.shape
    lay = Layout((n, m, k), 1, inner, False)
    grid = triton_grid(lay)
    blocks, c = (grid[1], k) if inner else (grid[2], m)
    part = torch.empty(n, blocks, c, sums, device=xv.device,
                       dtype=torch.float32)
    gx = torch.empty_like(xv)
    if xv.numel():
        kernel[grid](xv, gv, gx, part, *params, m, k, *scalars, INNER=inner,
                     BLOCK_M=BLOCK_M, BLOCK_K=BLOCK_K, **constexprs)
    return gx, part.sum(1, dtype=torch.float64)


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
    gx, sums = kernel(as_view(x, lay), as_view(grad, lay),
                      *params_nc(params, lay, x.dim()), *args,
                      lay.channels_inner)
    return from_view(gx, x, lay).to(x.dtype), sums, lay
