"""nn.Module activations; importing this package registers them all."""
from .acon import AconA, AconB, AconC, MetaAconC
from .base import InplaceActivation
from .channelwise import ChannelwiseActivation, feeder_signature
from .classic import CELU, SELU, Mish, Softplus
from .compat import GELU, PReLU, RReLU, Sigmoid, Tanh
from .ditac import (DiTAC, DiTACBase, GEDiTAC, InfDiTAC, LDiTAC,
                    prepare_export)
from .gelu import GELUTanh, QuickGELU
from .hard import HardSigmoid, HardSiLU
from .layeract import LAHardSiLU, LASiLU
from .pdelu import PDELU
from .swish import SwishBeta

__all__ = [
    'prepare_export', 'ChannelwiseActivation', 'feeder_signature',
    'InplaceActivation', 'SELU', 'CELU', 'Softplus', 'Mish', 'GELU', 'PReLU',
    'RReLU', 'Sigmoid', 'Tanh', 'GELUTanh', 'QuickGELU', 'HardSigmoid',
    'HardSiLU', 'PDELU', 'SwishBeta', 'AconA', 'AconB', 'AconC', 'MetaAconC',
    'LASiLU', 'LAHardSiLU', 'DiTACBase', 'DiTAC', 'GEDiTAC', 'LDiTAC',
    'InfDiTAC'
]
