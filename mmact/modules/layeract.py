"""LA-SiLU and LA-HardSiLU (LayerAct, Yoon & Lim)."""
from typing import ClassVar

from torch import Tensor, nn

from ..ops.layeract import layer_act
from ..registry import register_activation
from ..utils import check_positive


class _LayerAct(nn.Module):
    """Shared implementation; subclasses fix the scale function.

    Args:
        alpha: Variance offset α (> 0): 1e-5 on CIFAR, 0.1 on ImageNet in
            the paper "for stable learning".
        unbiased: Use the unbiased variance (ddof = 1), as the official
            forward pass does, so values match released LayerAct models.
            The gradient is exact for either choice.
        per_token: Statistics over the last dimension only (each token of a
            (B, L, C) input) instead of over every non-batch dimension.
        inplace: Accepted for ConvModule; computed out of place.
    """
    kind: ClassVar[str] = 'silu'
    elementwise: ClassVar[bool] = False

    def __init__(self, alpha: float = 1e-5, unbiased: bool = True,
                 per_token: bool = False, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = check_positive(type(self).__name__, 'alpha', alpha)
        self.unbiased = bool(unbiased)
        self.per_token = bool(per_token)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return layer_act(x, self.kind, self.alpha, self.unbiased,
                         self.per_token)

    def extra_repr(self) -> str:
        return (f'alpha={self.alpha}, unbiased={self.unbiased}, '
                f'per_token={self.per_token}')


@register_activation('LASiLU', family='layeract',
                     aliases=('LA-SiLU', 'la_silu'))
class LASiLU(_LayerAct):
    """LA-SiLU: y · sigmoid(n), n the layer-normalised input."""
    kind = 'silu'


@register_activation('LAHardSiLU', family='layeract',
                     aliases=('LA-HardSiLU', 'la_hard_silu'))
class LAHardSiLU(_LayerAct):
    """LA-HardSiLU: y · clip(n / 6 + 1 / 2, 0, 1)."""
    kind = 'hard_silu'
