"""PDELU: parametric deformable ELU (Cheng et al., Neural Networks 2020)."""
from typing import Optional

from torch import Tensor

from ..ops.pdelu import pdelu
from ..registry import register_activation
from ..utils import check_positive, check_real
from .channelwise import ChannelwiseActivation


@register_activation('PDELU', family='exponential', learnable='yes',
                     aliases=('pdelu', ))
class PDELU(ChannelwiseActivation):
    """x for x > 0, alpha * ([max(0, 1 + (1 - t)x)]^(1 / (1 - t)) - 1) else.

    ``t`` is fixed, ``alpha`` is learned (one per channel by default, no
    weight decay: it is 1-D). The default t = 0.9 follows the torch
    activation package (the author's Caffe layer uses 1.5): with t < 1 the
    negative part saturates at exactly -alpha for x <= -1 / (1 - t), with
    t > 1 it approaches -alpha asymptotically; t = 1 is ELU.

    Args:
        t: Deformation, > 0 (t <= 0 gives an unbounded derivative where the
            negative part saturates).
        alpha: Initial value of alpha.
        per_channel: One alpha per channel (True) or one for the module.
        num_channels: Channel count, if the feeder cannot tell it.
        channel_dim: 1 (NCHW) or -1 (channel-last); inferred when None.
        inplace: Accepted for ConvModule; computed out of place.
    """

    def __init__(self,
                 t: float = 0.9,
                 alpha: float = 1.0,
                 per_channel: bool = True,
                 num_channels: Optional[int] = None,
                 channel_dim: Optional[int] = None,
                 inplace: bool = False) -> None:
        super().__init__(per_channel, num_channels, channel_dim)
        self.t = check_positive('PDELU', 't', t)
        self.alpha_init = check_real('PDELU', 'alpha', alpha)
        self.inplace = inplace
        self.channel_parameter('alpha', self.alpha_init)

    def forward(self, x: Tensor) -> Tensor:
        return pdelu(x, self.broadcast(self.alpha, x), self.t)

    def extra_repr(self) -> str:
        return f't={self.t}, {super().extra_repr()}'
