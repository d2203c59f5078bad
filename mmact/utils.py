"""Argument checks shared by the activations (clear errors at build time)."""
import math
from numbers import Real


def check_real(owner: str, name: str, value) -> float:
    """``value`` as a finite float, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f'{owner}: {name} must be a finite number, '
                         f'got {value!r}')
    return float(value)


def check_positive(owner: str, name: str, value) -> float:
    """``value`` as a finite float > 0, or a ValueError naming the argument."""
    value = check_real(owner, name, value)
    if value <= 0:
        raise ValueError(f'{owner}: {name} must be > 0, got {value!r}')
    return value
