"""GELU approximations (the exact GELU is mmcv's ``GELU``)."""
from torch import Tensor

from ..functional import gelu_tanh
from ..functional.elementwise import QUICK_GELU_SCALE
from ..ops.acon import swish
from ..registry import register_activation
from .base import InplaceActivation


@register_activation('GELUTanh', family='gelu',
                     aliases=('GELU-tanh', 'gelu_tanh'))
class GELUTanh(InplaceActivation):
    """GELU with the tanh approximation (BERT, GPT-2).

    Args:
        inplace: Accepted for ConvModule; computed out of place.
    """

    def forward(self, x: Tensor) -> Tensor:
        return gelu_tanh(x)


@register_activation('QuickGELU', family='gelu',
                     aliases=('GELU-sigmoid', 'GELUSigmoid', 'quick_gelu'))
class QuickGELU(InplaceActivation):
    """GELU with the sigmoid approximation x * sigmoid(1.702x) (CLIP).

    Args:
        inplace: Accepted for ConvModule; computed out of place.
    """

    def forward(self, x: Tensor) -> Tensor:
        return swish(x, QUICK_GELU_SCALE)
