"""mmact: activation functions for OpenMMLab.

``import mmact`` (or ``custom_imports=dict(imports=['mmact'])`` in a config)
registers every mmact activation into mmengine's root ``MODELS`` registry,
so any ``act_cfg=dict(type=NAME)`` in mmseg, mmdet, mmpretrain or mmagic
finds it.
"""
from . import modules  # noqa: F401  (registers the activations)
from .modules import prepare_export
from .openmmlab import DiTACPriorHook, ditac_prior_loss, no_decay_custom_keys
from .registry import (ActivationInfo, build_activation, closest_names,
                       get_activation, list_activations)
from .version import __version__

__all__ = [
    '__version__', 'ActivationInfo', 'build_activation', 'closest_names',
    'get_activation', 'list_activations', 'DiTACPriorHook',
    'ditac_prior_loss', 'no_decay_custom_keys', 'prepare_export'
]
