"""Fused ops with custom autograd (kernels live beside their Function)."""
from .ditac import DiTACFunction, DiTACSpec, apply_ditac

__all__ = ['DiTACFunction', 'DiTACSpec', 'apply_ditac']
