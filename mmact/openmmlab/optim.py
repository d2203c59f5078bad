"""Weight-decay settings for activation parameters.

Activation parameters are 1-D: mmseg's ``LearningRateDecayOptimizerConstructor``
(ConvNeXt configs) already exempts every 1-D parameter from weight decay.
mmengine's ``DefaultOptimWrapperConstructor`` decays them unless told
otherwise; weight decay pulls DiTAC's θ to the identity warp and PDELU's α
to 0, so mmact's configs exempt them with::

    optim_wrapper = dict(
        paramwise_cfg=dict(custom_keys=mmact.no_decay_custom_keys()))
"""
from typing import Dict

# Parameter-name suffixes of mmact activations (DiTAC θ, PDELU α, Swish /
# ACON β, ACON p1 / p2).
ACTIVATION_PARAM_KEYS = ('.theta', '.alpha', '.beta', '.p1', '.p2')


def no_decay_custom_keys(**extra: Dict) -> Dict[str, Dict]:
    """``paramwise_cfg.custom_keys`` that turn weight decay off for mmact
    activation parameters (plus any ``extra`` keys)."""
    keys = {key: dict(decay_mult=0.0) for key in ACTIVATION_PARAM_KEYS}
    keys.update(extra)
    return keys
