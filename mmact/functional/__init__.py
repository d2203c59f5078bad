"""The math: pure tensor functions, no modules, no registry."""
from .elementwise import (gelu_tanh, hard_sigmoid, hard_silu, pdelu,
                          quick_gelu, swish)

__all__ = [
    'gelu_tanh', 'quick_gelu', 'swish', 'hard_sigmoid', 'hard_silu', 'pdelu'
]
