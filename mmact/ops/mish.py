"""Mish, x tanh(softplus(x)), with one fused pass per direction on CPU.

CPU float tensors use the compiled kernels of ``csrc/mish.cpp`` when
``mmact._C`` is built (ATen's CPU mish takes ~4x GELU's time); the
Function saves only x. Everything else, and a backward that autograd
records (``create_graph=True``), runs torch's ``F.mish``.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

from ._backend import differentiable_backward, exporting, use_cpu_kernels


class MishFunction(torch.autograd.Function):
    """y = Mish(x) by the compiled CPU kernels."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return torch.ops.mmact.mish_forward(x.float()).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x, ) = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiable backward
            return differentiable_backward(F.mish, (x, ), grad, (True, ))[0]
        return torch.ops.mmact.mish_backward(x.float(),
                                             grad.float()).to(x.dtype)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    """Mish: the fused CPU kernels where they apply and ``inplace`` is not
    asked (it needs x for the backward), else ``F.mish``."""
    if inplace or exporting() or not use_cpu_kernels(x):
        return F.mish(x, inplace=inplace)
    return MishFunction.apply(x)
