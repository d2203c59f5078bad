"""The DiTAC smoothness prior as a weighted loss term in mmengine training."""
from typing import Dict

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import Tensor, nn

from ..modules.ditac import DiTACBase


def ditac_prior_loss(model: nn.Module) -> Tensor:
    """Σ over the model's DiTAC modules of θᵀ Σ⁻¹ θ (0 if there are none)."""
    energies = [m.prior_energy() for m in model.modules()
                if isinstance(m, DiTACBase)]
    if not energies:
        return torch.zeros(())
    return torch.stack(energies).sum()


@HOOKS.register_module()
class DiTACPriorHook(Hook):
    """Add ``weight * Σ θᵀ Σ⁻¹ θ`` to the training loss as ``loss_ditac_prior``.

    The term joins the model's loss dict (so it is logged, summed into the
    total loss, and scaled by AMP like any other loss). Switch it on from a
    config::

        custom_hooks = [dict(type='DiTACPriorHook', weight=1e-3)]

    Args:
        weight: Multiplier of the prior energy (> 0).
    """
    priority = 'NORMAL'

    def __init__(self, weight: float = 1e-3) -> None:
        if not weight > 0:
            raise ValueError(f'DiTACPriorHook: weight must be > 0, got '
                             f'{weight!r}')
        self.weight = float(weight)

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not any(isinstance(m, DiTACBase) for m in model.modules()):
            runner.logger.warning('DiTACPriorHook: the model has no DiTAC '
                                  'module; the prior term is 0')
        parse_losses = model.parse_losses
        weight = self.weight

        def parse_with_prior(losses: Dict[str, Tensor]):
            losses = dict(losses)
            losses['loss_ditac_prior'] = weight * ditac_prior_loss(model)
            return parse_losses(losses)

        # Instance attribute: the model keeps its class and interface.
        model.parse_losses = parse_with_prior
