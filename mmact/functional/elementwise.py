"""Element-wise activation functions (pure tensor functions).

Parameters such as ``beta`` or ``alpha`` may be Python numbers or tensors
that broadcast against ``x``.
"""
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor

Scalar = Union[float, Tensor]

QUICK_GELU_SCALE = 1.702
# Below this |1 - t| PDELU is evaluated as its ELU limit: the power form
# [1 + (1 - t)x]^(1 / (1 - t)) loses all precision as 1 - t -> 0.
PDELU_ELU_LIMIT = 1e-6


def gelu_tanh(x: Tensor) -> Tensor:
    """GELU, tanh approximation: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))."""
    return F.gelu(x, approximate='tanh')


def quick_gelu(x: Tensor) -> Tensor:
    """GELU, sigmoid approximation ("QuickGELU"): x * sigmoid(1.702x)."""
    return x * torch.sigmoid(QUICK_GELU_SCALE * x)


def swish(x: Tensor, beta: Scalar = 1.0) -> Tensor:
    """Swish-beta: x * sigmoid(beta * x); beta = 1 is SiLU."""
    return x * torch.sigmoid(beta * x)


def hard_sigmoid(x: Tensor) -> Tensor:
    """clip(x / 6 + 1 / 2, 0, 1) (mmcv's HSigmoid with its defaults)."""
    return F.hardsigmoid(x)


def hard_silu(x: Tensor) -> Tensor:
    """Hard-swish: x * hard_sigmoid(x) (mmcv's HSwish)."""
    return F.hardswish(x)


def pdelu(x: Tensor, alpha: Scalar = 1.0, t: float = 0.9) -> Tensor:
    """Parametric deformable ELU.

    x for x > 0, alpha * ([max(0, 1 + (1 - t)x)]^(1 / (1 - t)) - 1) otherwise;
    t -> 1 is the ELU limit alpha * (exp(x) - 1).
    """
    neg = torch.clamp(x, max=0)
    if abs(1.0 - t) < PDELU_ELU_LIMIT:
        deformed = torch.expm1(neg)
    else:
        base = torch.clamp(1 + (1 - t) * neg, min=0)
        deformed = torch.pow(base, 1 / (1 - t)) - 1
    return torch.where(x > 0, x, alpha * deformed)

