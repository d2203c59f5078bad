"""PDELU with a memory-lean backward.

Autograd on the plain formula keeps the clamped input, the base of the
power, the power itself and the mask (4.25x GELU's saved memory per
element); this Function saves only x and α (broadcastable, small) and
recomputes. With f the negative part (:func:`mmact.functional.pdelu`),
b = max(0, 1 + (1 - t)x) and x <= 0:

    dy/dx = α b^(t / (1 - t))  (α e^x in the ELU limit),   dy/dα = f(x);

for x > 0, dy/dx = 1 and dy/dα = 0.

CPU float tensors use the compiled kernels of ``csrc/pdelu.cpp`` when
``mmact._C`` is built: the forward in one pass for any layout; the backward
in one pass that also sums dL/dα per sample and channel
(:mod:`mmact.ops._channels`: NCHW, channels-last, (B, L, C) tokens, scalar
α). Other layouts, and float64 (the reference), use these torch ops.
"""
from typing import Tuple

import torch
from torch import Tensor

from ..functional.elementwise import PDELU_ELU_LIMIT
from ..functional.elementwise import pdelu as F_pdelu
from ._backend import compute_dtype, use_cpu_kernels
from ._channels import fused_backward, reduce_to


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
        return F_pdelu(x, alpha, t).to(dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        x, alpha = ctx.saved_tensors
        t, need_alpha = ctx.t, ctx.needs_input_grad[1]
        fused = fused_backward(torch.ops.mmact.pdelu_backward, x, grad,
                               [alpha], t, _elu_limit(t)) \
            if use_cpu_kernels(x) else None
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
    """PDELU saving only x and α for the backward."""
    return PDELUFunction.apply(x, alpha, t)
