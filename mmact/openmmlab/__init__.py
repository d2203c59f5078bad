"""OpenMMLab glue: hooks, optimizer settings, the activation swap and safe
checkpoint loading (registered and allowlisted on import)."""
from .checkpoint import CheckpointFitHook, SAFE_GLOBALS
from .corruptions import ImageCorruption
from .ditac_prior import DiTACPriorHook, ditac_prior_loss
from .optim import ACTIVATION_PARAM_KEYS, no_decay_custom_keys
from .swap import activation_swap, summarize, swap_activations

__all__ = [
    'CheckpointFitHook', 'SAFE_GLOBALS',
    'ImageCorruption',
    'DiTACPriorHook', 'ditac_prior_loss', 'ACTIVATION_PARAM_KEYS',
    'no_decay_custom_keys', 'activation_swap', 'summarize', 'swap_activations'
]
