"""The math: pure tensor functions, no modules, no registry."""
from .acon import acon_c
from .elementwise import (gelu_tanh, hard_sigmoid, hard_silu, pdelu,
                          quick_gelu, swish)

__all__ = [
    'acon_c', 'gelu_tanh', 'quick_gelu', 'swish', 'hard_sigmoid', 'hard_silu', 'pdelu'
]
