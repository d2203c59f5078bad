"""RReLU in training with counter-based slopes on CPU.

ATen's CPU RReLU draws each slope from its mt19937, one element at a time
(7-9x GELU's forward + backward), and saves the slopes beside x.
``csrc/rrelu.cpp`` draws them from Philox4x32-10 keyed by a seed taken
from torch's default generator (so ``torch.manual_seed`` reproduces a run),
and the backward recomputes them from the seed: the Function saves only
the output and the seed (a tensor, so that torch.compile traces its
draw). The slopes have the same distribution as torch's, U(lower, upper)
per element, from a different stream.

Evaluation mode (the fixed slope (lower + upper) / 2), CUDA, dtypes other
than float32, bounds outside 0 <= lower <= upper, other strides and
export run torch's ``F.rrelu``.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

from ._backend import exporting, use_cpu_kernels


def _dense(x: Tensor) -> bool:
    return x.is_contiguous() or x.is_contiguous(
        memory_format=torch.channels_last) or x.is_contiguous(
            memory_format=torch.channels_last_3d)


class RReLUFunction(torch.autograd.Function):
    """y = RReLU(x) in training by the compiled CPU kernels (float32)."""

    @staticmethod
    def forward(ctx, x: Tensor, lower: float, upper: float,
                inplace: bool) -> Tensor:
        seed = torch.randint(-2**63, 2**63 - 1, (), dtype=torch.int64)
        y = x if inplace else torch.empty_like(x)
        torch.ops.mmact.rrelu_forward(x, y, lower, upper, seed)
        if inplace:
            ctx.mark_dirty(x)
        ctx.save_for_backward(y, seed)
        ctx.bounds = lower, upper
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        y, seed = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: the slopes as a tensor
            slope = torch.ops.mmact.rrelu_backward(y, torch.ones_like(y),
                                                   *ctx.bounds, seed)
            return grad * slope, None, None, None
        if grad.stride() != y.stride():
            grad = torch.empty_like(y).copy_(grad)
        return torch.ops.mmact.rrelu_backward(y, grad, *ctx.bounds, seed), \
            None, None, None


def rrelu(x: Tensor, lower: float, upper: float, training: bool,
          inplace: bool = False) -> Tensor:
    """``F.rrelu(x, lower, upper, training, inplace)``; in training, float32
    CPU tensors (contiguous or channels-last) with 0 <= lower <= upper run
    the fused kernels."""
    if (not training or exporting() or not use_cpu_kernels(x)
            or x.dtype != torch.float32 or not 0 <= lower <= upper
            or not _dense(x)):
        return F.rrelu(x, lower, upper, training, inplace)
    return RReLUFunction.apply(x, lower, upper, inplace)
