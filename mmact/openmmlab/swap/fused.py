"""Fused bias + activation layers, as a swap replaces them.

StyleGAN2 (mmagic) adds each layer's bias inside its activation: mmcv's
``FusedBiasLeakyReLU`` modules (``y = leaky_relu(x + b, 0.2) * √2``) and,
in its linear layers, a ``functools.partial`` of mmcv's
``fused_bias_leakyrelu`` stored as the layer's ``activate`` attribute and
called with the bias. A rule naming ``'FusedBiasLeakyReLU'`` replaces both
by :class:`BiasedActivation`: the same bias (the module's own parameter,
or the one passed at the call), the new activation, the same output gain.
The old op's ``negative_slope`` is not used (the swap summary lists it).
"""
import functools
import math
from typing import Any, Optional

import torch
import torch.nn as nn
from torch import Tensor

from .summary import Replacement

NAME = 'FusedBiasLeakyReLU'


def fused_type() -> type:
    """mmcv's fused bias-LeakyReLU module class."""
    from mmcv.ops import FusedBiasLeakyReLU
    return FusedBiasLeakyReLU


def is_fused_partial(value: Any) -> bool:
    """Whether ``value`` is a partial of mmcv's ``fused_bias_leakyrelu``."""
    from mmcv.ops import fused_bias_leakyrelu
    return isinstance(value, functools.partial) and \
        value.func is fused_bias_leakyrelu


class BiasedActivation(nn.Module):
    """``act(x + bias) * scale`` over channel dimension 1.

    Args:
        act: The activation.
        bias: The layer's bias (a parameter), or ``None`` when the owner
            passes it at each call (``forward(x, bias)``).
        scale: The output gain of the replaced op (√2 in StyleGAN2: it keeps
            the equalised-learning-rate layers' signal scale).
    """

    def __init__(self, act: nn.Module, bias: Optional[nn.Parameter],
                 scale: float) -> None:
        super().__init__()
        self.act = act
        self.bias = bias
        self.scale = scale

    def forward(self, x: Tensor, bias: Optional[Tensor] = None) -> Tensor:
        bias = self.bias if bias is None else bias
        if bias is None:
            raise ValueError('BiasedActivation: no bias (the layer holds none '
                             'and none was passed)')
        shape = (1, -1) + (1, ) * (x.dim() - 2)
        return self.act(x + bias.view(shape).to(x.dtype)) * self.scale

    def extra_repr(self) -> str:
        return f'scale={self.scale:.4g}'


def biased_activation(old: Any, rule) -> BiasedActivation:
    """The replacement of a fused module or partial (``rule``: the
    :class:`~.rules.SwapRule` that matched)."""
    if isinstance(old, nn.Module):
        bias, scale = old.bias, float(old.scale)
        shape = torch.Size([1, bias.numel(), 1, 1])
    else:
        bias, shape = None, None
        scale = float(old.keywords.get('scale', math.sqrt(2)))
    return BiasedActivation(rule.build(None, shape), bias, scale)


def negative_slope(old: Any) -> float:
    """The replaced op's slope (for the summary's unused arguments)."""
    if isinstance(old, nn.Module):
        return float(old.negative_slope)
    return float(old.keywords.get('negative_slope', 0.2))


def swap_fused(owner: nn.Module, path: str, name: str, old: Any,
               rule) -> Replacement:
    """Replace ``owner.<name>`` (a fused module or partial) in place; the
    bias parameter keeps its state-dict key."""
    setattr(owner, name, biased_activation(old, rule))
    return Replacement(f'{path}.{name}'.lstrip('.'), NAME, rule.new_type,
                       unused=(f'negative_slope={negative_slope(old):g}', ))
