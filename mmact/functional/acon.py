"""ACON family (Ma et al., CVPR 2021): smooth maximum of two linear functions.

S_β(η_a, η_b) = (η_a - η_b) σ(β(η_a - η_b)) + η_b; ACON-C uses η_a = p1 x,
η_b = p2 x (ACON-A: p1 = 1, p2 = 0; ACON-B: p1 = 1).
"""
from torch import Tensor

from .elementwise import Scalar


def acon_c(x: Tensor, p1: Scalar, p2: Scalar, beta: Scalar) -> Tensor:
    """(p1 - p2) x σ(β (p1 - p2) x) + p2 x."""
    d = (p1 - p2) * x
    return d * (beta * d).sigmoid() + p2 * x
