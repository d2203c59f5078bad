"""nn.Module activations; importing this package registers them all."""
from .acon import AconA, AconB, AconC, MetaAconC
from .channelwise import ChannelwiseActivation, feeder_signature
from .classic import CELU, SELU, Mish, Softplus
from .compat import GELU, Sigmoid, Tanh
from .ditac import DiTAC, GEDiTAC, InfDiTAC, LDiTAC
from .gelu import GELUTanh, QuickGELU
from .hard import HardSigmoid, HardSiLU
from .layeract import LAHardSiLU, LASiLU
from .pdelu import PDELU
from .swish import SwishBeta

__all__ = [
    'AconA', 'AconB', 'AconC', 'MetaAconC', 'LASiLU', 'LAHardSiLU',
    'ChannelwiseActivation', 'feeder_signature', 'SELU', 'CELU', 'Softplus',
    'Mish', 'GELU', 'Sigmoid', 'Tanh', 'GELUTanh', 'QuickGELU', 'HardSigmoid',
    'HardSiLU', 'PDELU', 'SwishBeta', 'DiTAC', 'GEDiTAC', 'LDiTAC', 'InfDiTAC'
]
