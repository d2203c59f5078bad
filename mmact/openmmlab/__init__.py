"""OpenMMLab glue: hooks and optimizer settings (registered on import)."""
from .ditac_prior import DiTACPriorHook, ditac_prior_loss
from .optim import ACTIVATION_PARAM_KEYS, no_decay_custom_keys

__all__ = [
    'DiTACPriorHook', 'ditac_prior_loss', 'ACTIVATION_PARAM_KEYS',
    'no_decay_custom_keys'
]
