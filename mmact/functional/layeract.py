"""LayerAct (Yoon & Lim, arXiv 2306.04940): layer-level activation scales.

a = y · s(n), n = (y - mean(y)) / sqrt(var(y) + α), statistics per sample
(over every non-batch dimension, or per token over the last one). The
statistics are not detached. This plain-autograd version is the reference
of the memory-lean op in ``mmact.ops.layeract``.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

SCALES = ('silu', 'hard_silu')


def scale(n: Tensor, kind: str) -> Tensor:
    """s(n): sigmoid for LA-SiLU, clip(n / 6 + 1 / 2, 0, 1) for LA-HardSiLU
    (written out: F.hardsigmoid has no double backward)."""
    return torch.sigmoid(n) if kind == 'silu' else (n / 6 + 0.5).clamp(0, 1)


def scale_and_grad(n: Tensor, kind: str) -> Tuple[Tensor, Tensor]:
    """(s(n), s'(n)), sharing the sigmoid."""
    s = scale(n, kind)
    if kind == 'silu':
        return s, s - s * s
    return s, ((n > -3) & (n < 3)).to(n.dtype) / 6


def rows(x: Tensor, per_token: bool) -> Tensor:
    """x as (groups, D): one row per sample (or per token)."""
    return x.reshape(-1, x.shape[-1]) if per_token else x.reshape(
        x.shape[0], -1)


def statistics(r: Tensor, alpha: float,
               unbiased: bool) -> Tuple[Tensor, Tensor]:
    """(mean, 1 / sqrt(var + α)) per row, shaped (groups, 1)."""
    var, mean = torch.var_mean(r, dim=1, keepdim=True,
                               correction=int(unbiased))
    return mean, torch.rsqrt(var + alpha)


def layer_act(x: Tensor, kind: str, alpha: float = 1e-5,
              unbiased: bool = True, per_token: bool = False) -> Tensor:
    """LayerAct with plain autograd (the reference)."""
    r = rows(x, per_token)
    mean, rstd = statistics(r, alpha, unbiased)
    return (r * scale((r - mean) * rstd, kind)).view(x.shape)
