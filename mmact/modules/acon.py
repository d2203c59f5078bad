"""ACON-A/B/C and Meta-ACON (Ma et al., CVPR 2021), per-channel parameters."""
from typing import Optional

import torch
from torch import Tensor, nn

from ..ops.acon import acon_c
from ..registry import register_activation
from .channelwise import CHANNELS_LAST, ChannelwiseActivation

NORMS = (None, 'BN', 'GN')


class _Acon(ChannelwiseActivation):
    """Shared arguments of the ACON modules.

    Args:
        num_channels: Channel count, if the feeder cannot tell it.
        channel_dim: 1 (NCHW) or -1 (channel-last); inferred when None.
        inplace: Accepted for ConvModule; computed out of place.
    """

    def __init__(self, num_channels: Optional[int] = None,
                 channel_dim: Optional[int] = None,
                 inplace: bool = False) -> None:
        super().__init__(True, num_channels, channel_dim)
        self.inplace = inplace


@register_activation('AconA', family='acon', learnable='yes',
                     aliases=('ACON-A', 'acon_a'))
class AconA(_Acon):
    """ACON-A: x σ(β x) with a learned β per channel (Swish, β init 1)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channel_parameter('beta', 1.0)

    def forward(self, x: Tensor) -> Tensor:
        one = x.new_ones(())
        return acon_c(x, one, one * 0, self.broadcast(self.beta, x))


@register_activation('AconB', family='acon', learnable='yes',
                     aliases=('ACON-B', 'acon_b'))
class AconB(_Acon):
    """ACON-B: (1 - p2) x σ(β (1 - p2) x) + p2 x; p2 ~ N(0, 1), β = 1."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channel_parameter('p2', 'normal')
        self.channel_parameter('beta', 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return acon_c(x, x.new_ones(()), self.broadcast(self.p2, x),
                      self.broadcast(self.beta, x))


@register_activation('AconC', family='acon', learnable='yes',
                     aliases=('ACON-C', 'acon_c'))
class AconC(_Acon):
    """ACON-C: (p1 - p2) x σ(β (p1 - p2) x) + p2 x; p1, p2 ~ N(0, 1), β = 1
    (the official initialisation)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channel_parameter('p1', 'normal')
        self.channel_parameter('p2', 'normal')
        self.channel_parameter('beta', 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return acon_c(x, self.broadcast(self.p1, x),
                      self.broadcast(self.p2, x),
                      self.broadcast(self.beta, x))


@register_activation('MetaAconC', family='acon', learnable='yes',
                     aliases=('Meta-ACON', 'MetaACON', 'meta_acon'))
class MetaAconC(_Acon):
    """Meta-ACON: ACON-C whose β is generated per sample and channel,
    β = σ(N(W2 N(W1 s))), s the spatial mean of x, W1: C -> max(r, C // r),
    W2: back to C (1 x 1 convs with bias, no nonlinearity between).

    Args:
        r: Reduction ratio (>= 1).
        norm: ``'BN'`` (official; fails on a training batch of one
            sample), ``'GN'`` (one group: works for any batch) or None.
        num_channels, channel_dim, inplace: As in the other ACONs.
    """

    def __init__(self, r: int = 16, norm: Optional[str] = 'BN',
                 **kwargs) -> None:
        if not isinstance(r, int) or r < 1:
            raise ValueError(f'MetaAconC: r must be an int >= 1, got {r!r}')
        if norm not in NORMS:
            raise ValueError(f'MetaAconC: norm must be one of {NORMS}, got '
                             f'{norm!r}')
        self.r, self.norm = r, norm
        super().__init__(**kwargs)
        self.channel_parameter('p1', 'normal')
        self.channel_parameter('p2', 'normal')
        if self.channels_known:
            self.channels_set(self.num_channels)

    def channels_set(self, num_channels: int) -> None:
        hidden = max(self.r, num_channels // self.r)
        device = self.p1.device
        self.fc1 = nn.Conv2d(num_channels, hidden, 1, device=device)
        self.norm1 = self._norm(hidden)
        self.fc2 = nn.Conv2d(hidden, num_channels, 1, device=device)
        self.norm2 = self._norm(num_channels)

    def _norm(self, channels: int) -> nn.Module:
        if self.norm == 'BN':
            return nn.BatchNorm2d(channels)
        if self.norm == 'GN':
            return nn.GroupNorm(1, channels)
        return nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if not self.channels_known:
            raise ValueError(
                'MetaAconC: channel count unknown at build time (its β '
                'generator must exist before the optimizer is built); pass '
                'num_channels=')
        last = self.channel_dim == CHANNELS_LAST
        xc = x.movedim(-1, 1) if last else x
        # sum * (1 / N), not mean: the mean's backward divides a full-size
        # expanded gradient (a pass over x's size); the sum's stays a view.
        s = xc.sum(dim=tuple(range(2, xc.ndim)), keepdim=True) * (
            1.0 / xc[0, 0].numel()) if xc.ndim > 2 else xc[..., None]
        s = s.reshape(s.shape[0], s.shape[1], 1, 1).to(self.fc1.weight.dtype)
        beta = torch.sigmoid(self.norm2(self.fc2(self.norm1(self.fc1(s)))))
        beta = beta.reshape(beta.shape[0], beta.shape[1],
                            *([1] * (xc.ndim - 2))).to(x.dtype)
        if last:
            beta = beta.movedim(1, -1)
        return acon_c(x, self.broadcast(self.p1, x),
                      self.broadcast(self.p2, x), beta)

    def extra_repr(self) -> str:
        return f'r={self.r}, norm={self.norm!r}, {super().extra_repr()}'
