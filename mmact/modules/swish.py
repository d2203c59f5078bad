"""Swish with a constant or trainable beta (mmcv's ``Swish`` is beta = 1)."""
from typing import Optional

from torch import Tensor

from ..ops.acon import swish
from ..registry import register_activation
from ..utils import check_real
from .channelwise import ChannelwiseActivation


@register_activation('SwishBeta', family='swish', learnable='optional',
                     aliases=('Swish-beta', 'Swish-β', 'swish_beta'))
class SwishBeta(ChannelwiseActivation):
    """x * sigmoid(beta * x); beta -> inf gives ReLU, beta = 0 gives x / 2.

    Args:
        beta: Value of beta (the initial value when learnable).
        learnable: Train beta.
        per_channel: One beta per channel (implies learnable); the channel
            count comes from the model (see :mod:`.channelwise`).
        num_channels: Channel count, if the feeder cannot tell it.
        channel_dim: 1 (NCHW) or -1 (channel-last); inferred when None.
        inplace: Accepted for ConvModule; computed out of place.
    """

    def __init__(self,
                 beta: float = 1.0,
                 learnable: bool = False,
                 per_channel: bool = False,
                 num_channels: Optional[int] = None,
                 channel_dim: Optional[int] = None,
                 inplace: bool = False) -> None:
        super().__init__(per_channel, num_channels, channel_dim)
        self.beta_init = check_real('SwishBeta', 'beta', beta)
        self.learnable = learnable or per_channel
        self.inplace = inplace
        if self.learnable:
            self.channel_parameter('beta', self.beta_init)

    def forward(self, x: Tensor) -> Tensor:
        if not self.learnable:
            return swish(x, self.beta_init)
        return swish(x, self.broadcast(self.beta, x))

    def extra_repr(self) -> str:
        if not self.learnable:
            return f'beta={self.beta_init}'
        return f'beta_init={self.beta_init}, {super().extra_repr()}'
