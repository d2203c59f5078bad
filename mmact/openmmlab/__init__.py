"""OpenMMLab glue: hooks, optimizer settings and the activation swap
(registered on import)."""
from .corruptions import ImageCorruption
from .ditac_prior import DiTACPriorHook, ditac_prior_loss
from .optim import ACTIVATION_PARAM_KEYS, no_decay_custom_keys
from .swap import activation_swap, summarize, swap_activations

__all__ = [
    'ImageCorruption',
    'DiTACPriorHook', 'ditac_prior_loss', 'ACTIVATION_PARAM_KEYS',
    'no_decay_custom_keys', 'activation_swap', 'summarize', 'swap_activations'
]
