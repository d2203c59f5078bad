"""The DiTAC smoothness prior as a weighted loss term in mmengine training."""
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

    The term joins the loss dict that the model's ``forward(mode='loss')``
    returns (so it is logged, summed into the total loss, and scaled by AMP
    like any other loss). It is added by a torch forward hook on the model,
    registered in ``before_train`` and removed in ``after_train``; the
    model's class and methods are untouched. Models whose ``train_step``
    computes losses without ``forward(mode='loss')`` (mmagic's GANs) are
    refused after the first iteration instead of training without the
    term. Switch it on from a config::

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
        self._handle = None
        self._added = False

    def _add_prior(self, model: nn.Module, args, kwargs, output):
        if kwargs.get('mode') != 'loss' or not isinstance(output, dict):
            return None
        self._added = True
        return {**output,
                'loss_ditac_prior': self.weight * ditac_prior_loss(model)}

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not any(isinstance(m, DiTACBase) for m in model.modules()):
            runner.logger.warning('DiTACPriorHook: the model has no DiTAC '
                                  'module; the prior term is 0')
        self._handle = model.register_forward_hook(self._add_prior,
                                                   with_kwargs=True)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self._added:
            raise RuntimeError(
                'DiTACPriorHook: the training step did not call the model '
                "with mode='loss', so the prior term could not be added "
                f'({type(runner.model).__name__} computes its losses another '
                'way); add mmact.ditac_prior_loss(model) to its losses '
                'instead')
        self._added = False

    def after_train(self, runner) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
