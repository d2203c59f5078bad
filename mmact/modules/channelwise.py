"""Per-channel activation parameters without a channel count in the config.

OpenMMLab builders (``ConvModule``, mmcv's ``FFN``, mmpretrain's ConvNeXt
block) never pass a channel count to an activation, yet mmengine's Runner
builds the optimizer, the paramwise optimizer constructors read parameter
shapes, and DDP wraps the model, all before the first forward. So a
:class:`ChannelwiseActivation` learns its channel count while the model is
being *constructed*: when it is assigned to its parent module, a global
module-registration hook looks at the sibling that feeds it and shapes the
parameters from it:

* inside a ``ConvModule``: the layer before ``'act'`` in its ``order``
  (the conv's input channels when the activation comes first);
* elsewhere: the last conv / linear / norm registered before it. A conv or a
  BatchNorm/GroupNorm feeds an NCHW map (channels in dim 1); a ``Linear`` or
  ``LayerNorm`` feeds a channel-last tensor, as in ConvNeXt blocks (N, H, W,
  C) and FFNs (B, L, C).

An explicit ``num_channels`` always wins. When nothing feeds the activation
(e.g. it is built before its conv), the parameters stay uninitialised until
a checkpoint is loaded or the first forward shapes them (with a warning:
DDP and mmseg's layer-decay optimizer constructor need them shaped at build
time). A forward whose channel count differs from the parameters' raises.
"""
import warnings
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm

# A constant fill value, or 'normal' for N(0, 1) draws (kept as data, not
# callables, so modules stay picklable and deep-copyable).
Init = Union[float, str]
CHANNELS_FIRST, CHANNELS_LAST = 1, -1


def _signature(module: nn.Module) -> Optional[Tuple[int, int]]:
    """(channels, channel dim) of the tensor ``module`` outputs, if known."""
    if isinstance(module, nn.Linear):
        return module.out_features, CHANNELS_LAST
    if isinstance(module, _ConvNd):
        return module.out_channels, CHANNELS_FIRST
    if isinstance(module, (_BatchNorm, _InstanceNorm)):
        return module.num_features, CHANNELS_FIRST
    if isinstance(module, nn.GroupNorm):
        return module.num_channels, CHANNELS_FIRST
    if isinstance(module, nn.LayerNorm):
        return module.normalized_shape[-1], CHANNELS_LAST
    return None


def feeder_signature(parent: nn.Module,
                     before: Optional[str] = None
                     ) -> Optional[Tuple[int, int]]:
    """(channels, channel dim) of what feeds an activation being attached
    to ``parent``, judged from the children ``parent`` already has (only
    those registered before the child ``before``, when given)."""
    order = getattr(parent, 'order', None)
    conv = getattr(parent, 'conv', None)
    if isinstance(order, tuple) and 'act' in order and isinstance(
            conv, _ConvNd):
        # mmcv ConvModule: the activation follows whatever precedes 'act'.
        prev = order[order.index('act') - 1] if order[0] != 'act' else None
        if prev is None:
            return conv.in_channels, CHANNELS_FIRST
        if prev == 'norm' and getattr(parent, 'with_norm', False):
            return _signature(getattr(parent, parent.norm_name))
        return conv.out_channels, CHANNELS_FIRST
    names = list(parent._modules)
    if before in names:
        names = names[:names.index(before)]
    for name in reversed(names):
        child = parent._modules[name]
        sig = _signature(child) if child is not None else None
        if sig is not None:
            return sig
    return None


@torch.no_grad()
def _fill(param: Tensor, init: Init) -> None:
    if init == 'normal':
        param.normal_()
    else:
        param.fill_(init)


class ChannelwiseActivation(nn.Module):
    """Base class of activations with scalar or per-channel parameters.

    Subclasses declare parameters with :meth:`channel_parameter` and read
    them in ``forward`` through :meth:`broadcast`.

    Args:
        per_channel: One value per channel (True) or one scalar per module.
        num_channels: Channel count, when known; otherwise inferred from the
            module that feeds this one (see the module docstring).
        channel_dim: Channel dimension of the input: 1 (NCHW, N C L, N C)
            or -1 (channel-last). ``None`` takes it from the feeder, else 1.
    """

    def __init__(self,
                 per_channel: bool = True,
                 num_channels: Optional[int] = None,
                 channel_dim: Optional[int] = None) -> None:
        super().__init__()
        if num_channels is not None and (not isinstance(num_channels, int)
                                         or num_channels < 1):
            raise ValueError(f'num_channels must be a positive int, got '
                             f'{num_channels!r}')
        if num_channels is not None and not per_channel:
            raise ValueError('num_channels is only meaningful with '
                             'per_channel=True')
        if channel_dim not in (None, CHANNELS_FIRST, CHANNELS_LAST):
            raise ValueError(f'channel_dim must be 1, -1 or None, got '
                             f'{channel_dim!r}')
        self.per_channel = per_channel
        self.num_channels = num_channels
        self.channel_dim = channel_dim
        # Only inferred counts are checked against later attachments.
        self._explicit_channels = num_channels is not None
        self._channel_inits: Dict[str, Init] = {}

    @property
    def channels_known(self) -> bool:
        return not self.per_channel or self.num_channels is not None

    def channel_parameter(self, name: str, init: Init) -> None:
        """Register a scalar or per-channel parameter.

        Args:
            name: Attribute name.
            init: Constant initial value, or ``'normal'`` for N(0, 1).
        """
        if not (init == 'normal' or isinstance(init, float)):
            raise ValueError(f'init must be a float or "normal", got {init!r}')
        self._channel_inits[name] = init
        if self.channels_known:
            size = self.num_channels if self.per_channel else 1
            param = nn.Parameter(torch.empty(size))
            _fill(param, init)
        else:
            param = nn.UninitializedParameter()
        self.register_parameter(name, param)

    def set_channels(self, num_channels: int, channel_dim: int) -> None:
        """Shape the per-channel parameters (once; later calls must agree)."""
        if self.num_channels is not None:
            if num_channels != self.num_channels:
                raise ValueError(
                    f'{type(self).__name__} already has {self.num_channels} '
                    f'channels; cannot use it for {num_channels}. A module '
                    'reused on several channel counts needs one activation '
                    'per call site.')
            return
        if self.channel_dim is None:
            self.channel_dim = channel_dim
        self.num_channels = num_channels
        for name, init in self._channel_inits.items():
            param = getattr(self, name)
            if isinstance(param, nn.UninitializedParameter):
                param.materialize((num_channels, ))
            _fill(param, init)
        self.channels_set(num_channels)

    def channels_set(self, num_channels: int) -> None:
        """Called once the channel count is known (build submodules here)."""

    def broadcast(self, param: Tensor, x: Tensor) -> Tensor:
        """``param`` in ``x``'s dtype, shaped to broadcast against ``x``."""
        if not self.channels_known:
            # materialize() turns the placeholder into a Parameter in place.
            self._shape_from_input(x)
        param = param.to(x.dtype)
        if not self.per_channel:
            return param
        dim = self.channel_dim if self.channel_dim is not None else 1
        if x.ndim == 0 or x.shape[dim] != self.num_channels:
            raise ValueError(
                f'{type(self).__name__} has {self.num_channels} channels in '
                f'dim {dim}, got an input of shape {tuple(x.shape)}; pass '
                'num_channels / channel_dim explicitly if inference was wrong')
        if dim == CHANNELS_LAST or x.ndim == 1:
            return param
        return param.view(-1, *([1] * (x.ndim - 2)))

    def _shape_from_input(self, x: Tensor) -> None:
        dim = self.channel_dim if self.channel_dim is not None else 1
        dim = dim if x.ndim > 1 else 0
        warnings.warn(
            f'{type(self).__name__}: channel count unknown at build time; '
            f'shaping its parameters from the first input ({x.shape[dim]} '
            f'channels in dim {dim}). DDP and layer-decay optimizer '
            'constructors need num_channels at build time.',
            stacklevel=3)
        self.set_channels(x.shape[dim], CHANNELS_FIRST
                          if dim in (0, 1) else CHANNELS_LAST)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if not self.channels_known:
            for name in self._channel_inits:
                value = state_dict.get(prefix + name)
                if value is not None and value.ndim == 1:
                    self.set_channels(value.shape[0], self.channel_dim or 1)
                    break
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        if not self.per_channel:
            return 'per_channel=False'
        return (f'num_channels={self.num_channels}, '
                f'channel_dim={self.channel_dim}')


def _attach_hook(parent: nn.Module, name: str, module) -> None:
    if (isinstance(module, ChannelwiseActivation) and module.per_channel
            and not module._explicit_channels):
        sig = feeder_signature(parent, before=name)
        if sig is not None:
            module.set_channels(*sig)


# Installed once per process, when this module is first imported.
_HOOK = torch.nn.modules.module.register_module_module_registration_hook(
    _attach_hook)
