"""Classic element-wise activations mmcv does not register.

Each accepts ``inplace`` because mmcv's ``ConvModule`` injects it; where
torch has an in-place kernel it is used, otherwise the result is a new
tensor (``inplace=False`` is always honoured).
"""
import torch.nn.functional as F
from torch import Tensor

from ..ops.mish import mish
from ..registry import register_activation
from .base import InplaceActivation
from ..utils import check_positive


@register_activation('SELU', family='exponential', aliases=('selu', ))
class SELU(InplaceActivation):
    """Scaled ELU: lambda * ELU_alpha(x) with the self-normalising constants.

    Args:
        inplace: Overwrite the input.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.selu(x, inplace=self.inplace)


@register_activation('CELU', family='exponential', aliases=('celu', ))
class CELU(InplaceActivation):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).

    Args:
        alpha: Saturation value of the negative part, > 0.
        inplace: Overwrite the input.
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = check_positive('CELU', 'alpha', alpha)

    def forward(self, x: Tensor) -> Tensor:
        return F.celu(x, alpha=self.alpha, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f'alpha={self.alpha}'


@register_activation('Softplus', family='classic', aliases=('softplus', ))
class Softplus(InplaceActivation):
    """(1 / beta) * log(1 + exp(beta * x)), linear once beta * x > threshold.

    Args:
        beta: Sharpness, > 0.
        threshold: Above this value of beta * x the function is x, > 0.
        inplace: Accepted for ConvModule; Softplus is never computed in place.
    """

    def __init__(self,
                 beta: float = 1.0,
                 threshold: float = 20.0,
                 inplace: bool = False) -> None:
        super().__init__(inplace)
        self.beta = check_positive('Softplus', 'beta', beta)
        self.threshold = check_positive('Softplus', 'threshold', threshold)

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, beta=self.beta, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f'beta={self.beta}, threshold={self.threshold}'


@register_activation('Mish', family='classic', aliases=('mish', ))
class Mish(InplaceActivation):
    """x * tanh(softplus(x)).

    Args:
        inplace: Overwrite the input.
    """

    def forward(self, x: Tensor) -> Tensor:
        return mish(x, inplace=self.inplace)
