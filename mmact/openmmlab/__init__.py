"""OpenMMLab glue: hooks, optimizer settings, the activation swap, safe
checkpoint loading and the CIFAR ResNet backbone (registered and
allowlisted on import)."""
from .checkpoint import CheckpointFitHook, SAFE_GLOBALS
from .cifar_resnet import CIFARResNet
from .corruptions import ImageCorruption
from .ditac_prior import DiTACPriorHook, ditac_prior_loss
from .optim import ACTIVATION_PARAM_KEYS, no_decay_custom_keys
from .swap import activation_swap, summarize, swap_activations

__all__ = [
    'CheckpointFitHook', 'SAFE_GLOBALS', 'CIFARResNet',
    'ImageCorruption',
    'DiTACPriorHook', 'ditac_prior_loss', 'ACTIVATION_PARAM_KEYS',
    'no_decay_custom_keys', 'activation_swap', 'summarize', 'swap_activations'
]
