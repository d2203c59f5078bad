"""Fused ops with custom autograd (kernels live beside their Function)."""
from .acon import AconCFunction
from .ditac import DiTACFunction, DiTACSpec, apply_ditac
from .layeract import LayerActFunction, layer_act
from .pdelu import PDELUFunction, pdelu
from .prelu import PReLUFunction, prelu
from .rrelu import RReLUFunction, rrelu

__all__ = [
    'AconCFunction', 'DiTACFunction', 'DiTACSpec', 'apply_ditac',
    'LayerActFunction', 'layer_act', 'PDELUFunction', 'pdelu',
    'PReLUFunction', 'prelu', 'RReLUFunction', 'rrelu'
]
