"""mmcv's own activations in the name table, and the aliases users type.

PReLU and RReLU keep mmcv's names and torch's modules (the same arguments,
parameters and state dict) with mmact's fused CPU kernels: subclasses
registered over the torch classes mmcv registers.

Aliases of mmcv classes that reject ``inplace`` (GELU, Sigmoid, Tanh) get a
thin subclass that accepts it: ``ConvModule`` injects ``inplace`` for every
type string except mmcv's exact spellings, so a bare alias would fail there.
"""
from mmengine.registry import MODELS
from torch import Tensor, nn

from ..ops.prelu import prelu
from ..ops.rrelu import rrelu
from ..registry import record_mmcv, register_activation, register_alias

# name -> (family, learnable), as mmcv 2.1 registers them. mmcv's Clamp /
# Clip are left out: they clip values rather than activate, and they reject
# the ``inplace`` that ConvModule injects.
MMCV_ACTIVATIONS = {
    'ReLU': ('classic', 'no'),
    'LeakyReLU': ('classic', 'no'),
    'ReLU6': ('classic', 'no'),
    'ELU': ('exponential', 'no'),
    'Sigmoid': ('classic', 'no'),
    'Tanh': ('classic', 'no'),
    'SiLU': ('swish', 'no'),
    'Swish': ('swish', 'no'),
    'GELU': ('gelu', 'no'),
    'HSigmoid': ('hard', 'no'),
    'HSwish': ('hard', 'no'),
}

# alias -> mmcv name; every target accepts ``inplace``.
MMCV_ALIASES = {
    'relu': 'ReLU',
    'relu6': 'ReLU6',
    'LReLU': 'LeakyReLU',
    'leaky_relu': 'LeakyReLU',
    'elu': 'ELU',
    'silu': 'SiLU',
    'swish': 'SiLU',
    'Swish-1': 'SiLU',
}

for _name, (_family, _learnable) in MMCV_ACTIVATIONS.items():
    record_mmcv(_name, _family, _learnable)
for _alias, _target in MMCV_ALIASES.items():
    register_alias(_alias, MODELS.module_dict[_target], _target,
                   *MMCV_ACTIVATIONS[_target])


@register_activation('gelu', family='gelu')
class GELU(nn.GELU):
    """torch's exact GELU, accepting ``inplace`` (computed out of place)."""

    def __init__(self, approximate: str = 'none', inplace: bool = False):
        super().__init__(approximate)
        self.inplace = inplace


@register_activation('sigmoid', family='classic')
class Sigmoid(nn.Sigmoid):
    """torch's Sigmoid, accepting ``inplace`` (computed out of place)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace


@register_activation('tanh', family='classic')
class Tanh(nn.Tanh):
    """torch's Tanh, accepting ``inplace`` (computed out of place)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace


@register_activation('PReLU', family='classic', learnable='yes',
                     replaces=nn.PReLU)
class PReLU(nn.PReLU):
    """torch's PReLU with the fused CPU backward of :mod:`mmact.ops.prelu`.

    Args:
        num_parameters: 1 (one slope) or the channel count (dim 1 of x).
        init: Initial slope.
    """

    def forward(self, x: Tensor) -> Tensor:
        return prelu(x, self.weight)


@register_activation('RReLU', family='classic', replaces=nn.RReLU)
class RReLU(nn.RReLU):
    """torch's RReLU; in training on CPU the slopes come from the
    counter-based generator of :mod:`mmact.ops.rrelu`.

    Args:
        lower: Lower bound of the random slope.
        upper: Upper bound of the random slope.
        inplace: Overwrite the input.
    """

    def forward(self, x: Tensor) -> Tensor:
        return rrelu(x, self.lower, self.upper, self.training, self.inplace)
