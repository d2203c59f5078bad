"""ACON-A/B/C and Meta-ACON: reference values, gradients, layouts, training."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule

from toy import gradcheck_module

import mmact
from mmact.functional import acon_c
from mmact.modules import AconA, AconB, AconC, MetaAconC

X = torch.tensor([-3, -1, -0.5, 0, 0.5, 1, 3], dtype=torch.float64)


def _set(module, **values):
    with torch.no_grad():
        for name, value in values.items():
            getattr(module, name).fill_(value)
    return module


@pytest.mark.parametrize('p1,p2,beta,expected', [
    (1.0, 0.25, 1.0,
     [-0.964536, -0.490616, -0.277750, 0, 0.347250, 0.759384, 2.785464]),
    (1.5, -0.5, 2.0,
     [1.499963, 0.464028, 0.130797, 0, 0.630797, 1.464028, 4.499963]),
])
def test_acon_c_reference(p1, p2, beta, expected):
    act = _set(AconC(num_channels=7, channel_dim=-1).double(), p1=p1, p2=p2,
               beta=beta)
    torch.testing.assert_close(act(X[None]).flatten(),
                               torch.tensor(expected, dtype=torch.float64),
                               atol=1e-6, rtol=0)


def test_special_cases_are_swish():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)[None]
    act = _set(AconC(num_channels=101, channel_dim=-1).double(), p1=1.0,
               p2=0.0, beta=1.0)
    torch.testing.assert_close(act(x), F.silu(x))
    a = _set(AconA(num_channels=101, channel_dim=-1).double(), beta=2.0)
    torch.testing.assert_close(a(x), x * torch.sigmoid(2 * x))
    b = _set(AconB(num_channels=101, channel_dim=-1).double(), p2=0.25,
             beta=1.0)
    torch.testing.assert_close(b(x), acon_c(x, 1.0, 0.25, 1.0))


def test_derivative_bounds():
    # d/dx ACON-C = p2 + (p1 - p2) h(β(p1 - p2)x), h ∈ [-0.099839, 1.099839]
    x = torch.linspace(-8, 8, 20001, dtype=torch.float64, requires_grad=True)
    (g, ) = torch.autograd.grad(acon_c(x, 1.0, 0.0, 1.0).sum(), x)
    assert g.min().item() == pytest.approx(-0.099839, abs=1e-6)
    assert g.max().item() == pytest.approx(1.099839, abs=1e-6)


def test_official_initialisation_and_layouts():
    torch.manual_seed(0)
    m = ConvModule(3, 256, 1, act_cfg=dict(type='ACON-C'))
    act = m.activate
    assert act.p1.shape == act.p2.shape == act.beta.shape == (256, )
    assert torch.equal(act.beta, torch.ones(256))
    assert abs(act.p1.mean()) < 0.2 and 0.8 < act.p1.std() < 1.2
    assert not torch.equal(act.p1, act.p2)


@pytest.mark.parametrize('cls', [AconA, AconB, AconC, MetaAconC])
def test_gradcheck(cls):
    kwargs = dict(norm='GN') if cls is MetaAconC else {}
    act = cls(num_channels=3, **kwargs).double()
    assert gradcheck_module(act, torch.randn(2, 3, 4, 4, dtype=torch.float64))


def test_meta_acon_generator_shape_and_layouts():
    act = MetaAconC(num_channels=64, r=16)
    assert act.fc1.out_channels == 16 and act.fc2.out_channels == 64
    act = MetaAconC(num_channels=512, r=16)
    assert act.fc1.out_channels == 32
    x = torch.randn(2, 8, 5, 5)
    first = MetaAconC(num_channels=8, norm='GN', channel_dim=1)
    last = MetaAconC(num_channels=8, norm='GN', channel_dim=-1)
    last.load_state_dict(first.state_dict())
    torch.testing.assert_close(last(x.permute(0, 2, 3, 1)),
                               first(x).permute(0, 2, 3, 1))
    tokens = MetaAconC(num_channels=8, norm=None, channel_dim=-1)
    assert tokens(torch.randn(2, 7, 8)).shape == (2, 7, 8)


def test_meta_acon_batch_of_one_trains_with_gn():
    act = MetaAconC(num_channels=8, norm='GN').train()
    opt = torch.optim.SGD(act.parameters(), lr=0.1)
    before = act.fc1.weight.detach().clone()
    act(torch.randn(1, 8, 4, 4)).square().sum().backward()
    opt.step()
    assert not torch.equal(before, act.fc1.weight)
    bn = MetaAconC(num_channels=8, norm='BN').train()
    with pytest.raises(ValueError, match='more than 1 value'):
        bn(torch.randn(1, 8, 4, 4))


def test_meta_acon_unknown_channels_and_checkpoint_shaping():
    with pytest.raises(ValueError, match='num_channels'):
        MetaAconC()(torch.randn(2, 8, 3, 3))
    trained = MetaAconC(num_channels=8, norm='GN')
    fresh = MetaAconC(norm='GN')
    fresh.load_state_dict(trained.state_dict())
    x = torch.randn(2, 8, 3, 3)
    assert torch.equal(fresh(x), trained(x))


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match='r must be'):
        mmact.build_activation(dict(type='Meta-ACON', r=0))
    with pytest.raises(ValueError, match='norm'):
        mmact.build_activation(dict(type='Meta-ACON', norm='LN'))


def test_no_decay_keys_cover_acon_parameters():
    from mmengine.optim import build_optim_wrapper
    model = ConvModule(3, 8, 1, act_cfg=dict(type='ACON-C'))
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),
        paramwise_cfg=dict(custom_keys=mmact.no_decay_custom_keys())))
    decay = {id(p): g['weight_decay']
             for g in wrapper.optimizer.param_groups for p in g['params']}
    for name in ('p1', 'p2', 'beta'):
        assert decay[id(getattr(model.activate, name))] == 0.0
    assert decay[id(model.conv.weight)] == 1e-4


def test_memory_lean_op_matches_autograd_and_saves_only_inputs():
    from mmact.ops.acon import acon_c as acon_c_op
    torch.manual_seed(0)
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    shapes = [(1, 3, 1, 1), (1, 3, 1, 1), (2, 3, 1, 1)]  # β per sample
    params = [torch.randn(s, dtype=torch.float64) for s in shapes]
    assert torch.autograd.gradcheck(
        acon_c_op, (x.clone().requires_grad_(True),
                    *[p.clone().requires_grad_(True) for p in params]))
    torch.testing.assert_close(acon_c_op(x, *params), acon_c(x, *params))
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t.numel()) or t, lambda t: t):
        AconC(num_channels=3)(x.float().requires_grad_(True))
    assert sorted(saved) == [3, 3, 3, x.numel()]
