"""LayerAct with a memory-lean backward.

Autograd on the plain formula keeps the normalised tensor, the scale and
more for the backward. This Function saves only the input and the
per-row statistics (2 numbers per sample or token) and recomputes the
rest: with q = g·y·s'(n), r = 1 / sqrt(var + α) and c = D (biased) or
D - 1 (unbiased variance),

    dL/dy = g·s(n) + r·(q - mean(q) - n·Σ(q·n) / c).
"""
import torch
from torch import Tensor

from ..functional import layeract as F_la


def _compute(t: Tensor) -> Tensor:
    # fp16/bf16 are computed in float32; float64 stays float64.
    return t if t.dtype == torch.float64 else t.float()


class LayerActFunction(torch.autograd.Function):
    """a = y · s((y - mean) / sqrt(var + α)), statistics per row."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str, alpha: float, unbiased: bool,
                per_token: bool) -> Tensor:
        r = _compute(F_la.rows(x, per_token))
        mean, rstd = F_la.statistics(r, alpha, unbiased)
        out = r * F_la.scale((r - mean) * rstd, kind)
        ctx.save_for_backward(x, mean, rstd)
        ctx.kind, ctx.unbiased, ctx.per_token = kind, unbiased, per_token
        return out.view(x.shape).to(x.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        x, mean, rstd = ctx.saved_tensors
        r = _compute(F_la.rows(x, ctx.per_token))
        g = _compute(F_la.rows(grad, ctx.per_token))
        n = (r - mean) * rstd
        q = g * r * F_la.scale_grad(n, ctx.kind)
        c = r.shape[1] - int(ctx.unbiased)
        qn = (q * n).sum(1, keepdim=True) / c
        dx = g * F_la.scale(n, ctx.kind) + rstd * (
            q - q.mean(1, keepdim=True) - n * qn)
        return dx.view(x.shape).to(x.dtype), None, None, None, None


def layer_act(x: Tensor, kind: str, alpha: float = 1e-5,
              unbiased: bool = True, per_token: bool = False) -> Tensor:
    """Apply LayerAct (autograd-aware, saving only x and the statistics)."""
    return LayerActFunction.apply(x, kind, alpha, unbiased, per_token)
