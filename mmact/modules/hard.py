"""Piecewise-linear "hard" activations, equal to mmcv's HSigmoid / HSwish
with their default arguments, under the names users type."""
import torch.nn.functional as F
from torch import Tensor

from ..registry import register_activation
from .base import InplaceActivation


@register_activation('HardSigmoid', family='hard', aliases=('hard_sigmoid', ))
class HardSigmoid(InplaceActivation):
    """clip(x / 6 + 1 / 2, 0, 1).

    Args:
        inplace: Overwrite the input.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x, inplace=self.inplace)


@register_activation('HardSiLU', family='hard',
                     aliases=('HardSwish', 'hard_swish', 'hard_silu'))
class HardSiLU(InplaceActivation):
    """Hard-swish: x * clip(x / 6 + 1 / 2, 0, 1) (MobileNetV3).

    Args:
        inplace: Overwrite the input.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x, inplace=self.inplace)
