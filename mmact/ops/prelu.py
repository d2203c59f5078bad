"""PReLU with the backward in one fused pass on CPU.

ATen's CPU PReLU backward (dL/dx and the reduction for dL/da) takes 3-3.5x
GELU's forward + backward; ``csrc/prelu.cpp`` writes grad_x and sums
g x over x <= 0 per sample and channel in one pass
(:mod:`mmact.ops._channels`). The Function saves x and the weight, as
torch's does. Everything else (CUDA, float64 and other dtypes, inputs of
fewer than two dimensions, export) and a backward that autograd records
(``create_graph=True``) runs torch's ``F.prelu``: the same numbers, torch's
own errors and the ONNX ``PRelu`` node. Unlike torch's op, a weight of
another dtype than x is cast to x's.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ._backend import differentiable_backward, exporting, use_cpu_kernels
from ._channels import fused_backward, reduce_to


def _broadcast(weight: Tensor, x: Tensor) -> Tensor:
    """The weight along x's dim 1 (torch's PReLU channel), or the scalar."""
    if weight.numel() == 1:
        return weight.reshape(())
    return weight.reshape(-1, *(1, ) * (x.dim() - 2))


class PReLUFunction(torch.autograd.Function):
    """y = PReLU(x; weight) by the compiled CPU kernels (float32)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return torch.ops.mmact.prelu_forward(x, _broadcast(weight, x))

    @staticmethod
    def backward(ctx, grad: Tensor
                 ) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        x, weight = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiable backward
            return differentiable_backward(F.prelu, (x, weight), grad,
                                           ctx.needs_input_grad)
        wb = _broadcast(weight, x)
        # layout() takes every PReLU weight: a scalar, or one along dim 1.
        gx, sums, lay = fused_backward(torch.ops.mmact.prelu_backward, x,
                                       grad, [wb])
        gw = reduce_to(sums[..., 0], wb, lay.dim, x.dim())
        return gx, gw.reshape(weight.shape).to(weight.dtype) \
            if ctx.needs_input_grad[1] else None


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """``F.prelu(x, weight)`` in x's dtype (torch's op refuses a weight of
    another dtype; here it is cast, as mmact's other activations keep x's
    dtype). Float32 CPU tensors of two or more dims whose weight is a
    scalar or one per channel (dim 1) run the fused kernels."""
    if x.is_floating_point() and weight.dtype != x.dtype:
        weight = weight.to(x.dtype)
    if (exporting() or not use_cpu_kernels(x) or x.dim() < 2
            or x.dtype != torch.float32
            or weight.numel() not in (1, x.shape[1])):
        return F.prelu(x, weight)
    return PReLUFunction.apply(x, weight)
