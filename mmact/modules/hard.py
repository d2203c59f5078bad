"""Piecewise-linear "hard" activations, equal to mmcv's HSigmoid / HSwish
with their default arguments, under the names users type."""
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import register_activation


@register_activation('HardSigmoid', family='hard', aliases=('hard_sigmoid', ))
class HardSigmoid(nn.Module):
    """clip(x / 6 + 1 / 2, 0, 1).

    Args:
        inplace: Overwrite the input.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x, inplace=self.inplace)


@register_activation('HardSiLU', family='hard',
                     aliases=('HardSwish', 'hard_swish', 'hard_silu'))
class HardSiLU(nn.Module):
    """Hard-swish: x * clip(x / 6 + 1 / 2, 0, 1) (MobileNetV3).

    Args:
        inplace: Overwrite the input.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x, inplace=self.inplace)
