"""Fused ops with custom autograd (kernels live beside their Function)."""
from .ditac import DiTACFunction, DiTACSpec, apply_ditac
from .layeract import LayerActFunction, layer_act

__all__ = [
    'DiTACFunction', 'DiTACSpec', 'apply_ditac', 'LayerActFunction',
    'layer_act'
]
