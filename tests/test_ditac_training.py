"""DiTAC in mmengine training: prior loss, weight decay, checkpoints."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner, load_checkpoint
from torch.utils.data import DataLoader
from toy import ToyClassifier, toy_data

import mmact
from mmact.functional import ditac as F_ditac
from mmact.modules import DiTAC


def _model(seed=0):
    torch.manual_seed(seed)
    return ToyClassifier(dict(type='DiTAC', init='prior'))


def _runner(model, work_dir, hooks=(), iters=1, lr=0.1):
    return Runner(
        model=model, work_dir=str(work_dir),
        train_dataloader=DataLoader(toy_data(), batch_size=8),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
        train_cfg=dict(by_epoch=False, max_iters=iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=iters, by_epoch=False)),
        custom_hooks=list(hooks), default_scope='mmengine',
        randomness=dict(seed=0))


def test_prior_hook_adds_exact_weighted_gradient(tmp_path):
    weight, lr = 0.01, 0.1
    plain, with_prior = _model(), _model()
    theta0 = {n: p.detach().clone() for n, p in plain.named_parameters()
              if n.endswith('theta')}
    _runner(plain, tmp_path / 'plain', lr=lr).train()
    runner = _runner(with_prior, tmp_path / 'prior', lr=lr,
                     hooks=[dict(type='DiTACPriorHook', weight=weight)])
    runner.train()
    precision = F_ditac.prior_precision(10, 'ditac')
    plain_params = dict(plain.named_parameters())
    for name, p in with_prior.named_parameters():
        if name in theta0:
            grad = 2 * precision @ theta0[name].double()
            torch.testing.assert_close(
                (p - plain_params[name]).double(), -lr * weight * grad,
                rtol=1e-4, atol=1e-6)
    logged = runner.message_hub.get_scalar('train/loss_ditac_prior')
    energy = sum(t.double() @ precision @ t.double() for t in theta0.values())
    assert logged.current() == pytest.approx(weight * energy.item(), rel=1e-4)


def test_prior_hook_is_removed_after_training(tmp_path):
    model = _model()
    _runner(model, tmp_path, hooks=[dict(type='DiTACPriorHook')]).train()
    assert not model._forward_hooks  # nothing left on the model


class LossWithoutForward(ToyClassifier):
    """Computes its loss in train_step itself, as mmagic's GANs do."""

    def train_step(self, data, optim_wrapper):
        data = self.data_preprocessor(data, True)
        logits = self(data['inputs'])
        losses = dict(loss=torch.nn.functional.cross_entropy(
            logits, data['labels']))
        loss, log_vars = self.parse_losses(losses)
        optim_wrapper.update_params(loss)
        return log_vars


def test_prior_hook_refuses_a_model_it_cannot_reach(tmp_path):
    torch.manual_seed(0)
    model = LossWithoutForward(dict(type='DiTAC', init='prior'))
    runner = _runner(model, tmp_path, hooks=[dict(type='DiTACPriorHook')])
    with pytest.raises(RuntimeError, match="did not call the model with "
                       "mode='loss'"):
        runner.train()


def test_prior_loss_sums_modules_and_validates_weight():
    model = _model()
    expected = sum(m.prior_energy() for m in model.modules()
                   if isinstance(m, mmact.modules.DiTAC))
    torch.testing.assert_close(mmact.ditac_prior_loss(model), expected)
    assert mmact.ditac_prior_loss(torch.nn.Linear(2, 2)) == 0
    with pytest.raises(ValueError, match='weight'):
        mmact.DiTACPriorHook(weight=0)


def _theta_decay(optim_wrapper, model):
    thetas = {id(p) for n, p in model.named_parameters()
              if n.endswith('theta')}
    return {g['weight_decay'] for g in optim_wrapper.optimizer.param_groups
            for p in g['params'] if id(p) in thetas}


def test_weight_decay_on_theta_is_a_config_choice():
    model = _model()
    cfg = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
    assert _theta_decay(build_optim_wrapper(model, copy.deepcopy(cfg)),
                        model) == {0.05}
    cfg['paramwise_cfg'] = dict(custom_keys=mmact.no_decay_custom_keys())
    assert _theta_decay(build_optim_wrapper(model, cfg), model) == {0.0}


def test_runner_checkpoint_restores_theta_exactly(tmp_path):
    model = _model()
    _runner(model, tmp_path, iters=2).train()
    fresh = _model(seed=1)
    # θ, its settings and mmengine's meta all load with weights_only=True.
    state = torch.load(tmp_path / 'iter_2.pth', weights_only=True)
    assert any(k.endswith('_extra_state') for k in state['state_dict'])
    load_checkpoint(fresh, str(tmp_path / 'iter_2.pth'), map_location='cpu')
    for (n, a), b in zip(model.state_dict().items(),
                         fresh.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), n
    x = torch.randn(2, 3, 6, 6)
    model.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(model(x), fresh(x))


def test_ema_with_buffers_averages_theta_and_keeps_settings():
    """mmengine's EMA over the whole state_dict (RTMDet's EMAHook) averages
    θ and carries the settings (an int64 ``_extra_state``) unchanged."""
    from mmengine.model import ExponentialMovingAverage
    model = nn.Sequential(nn.Linear(4, 4), DiTAC(init='prior'))
    ema = ExponentialMovingAverage(model, momentum=0.5, update_buffers=True)
    start = model[1].theta.detach().clone()
    ema.update_parameters(model)  # the first update copies
    with torch.no_grad():
        model[1].theta.add_(1.0)
    ema.update_parameters(model)
    torch.testing.assert_close(ema.module[1].theta, start + 0.5)
    fresh = nn.Sequential(nn.Linear(4, 4), DiTAC())
    fresh.load_state_dict(ema.module.state_dict())
    torch.testing.assert_close(fresh[1].theta, start + 0.5)
