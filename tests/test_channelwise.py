"""Per-channel parameters: shapes known at build time, gradients, checkpoints."""
import copy
import pickle

import pytest
import torch
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks.transformer import FFN
from toy import gradcheck_module
from torch import nn

from mmact.modules import PDELU, SwishBeta

PER_CHANNEL = [
    dict(type='PDELU'),
    dict(type='SwishBeta', per_channel=True, beta=1.5),
]


@pytest.mark.parametrize('cfg', PER_CHANNEL)
def test_conv_module_shapes_from_conv(cfg):
    m = ConvModule(3, 8, 3, act_cfg=dict(cfg))
    (param, ) = list(m.activate.parameters())
    assert param.shape == (8, ) and m.activate.channel_dim == 1


@pytest.mark.parametrize('cfg', PER_CHANNEL)
def test_conv_module_activation_first_uses_input_channels(cfg):
    m = ConvModule(3, 8, 3, act_cfg=dict(cfg), norm_cfg=dict(type='BN'),
                   order=('act', 'conv', 'norm'))
    assert m.activate.num_channels == 3
    assert m(torch.randn(2, 3, 6, 6)).shape == (2, 8, 4, 4)
    m = ConvModule(3, 8, 3, act_cfg=dict(cfg), norm_cfg=dict(type='BN'),
                   order=('norm', 'act', 'conv'))
    assert m.activate.num_channels == 3


@pytest.mark.parametrize('cfg', PER_CHANNEL)
def test_ffn_channel_last(cfg):
    ffn = FFN(embed_dims=6, feedforward_channels=10, act_cfg=dict(cfg),
              num_fcs=3)
    acts = [layer[1] for layer in ffn.layers[:-2]]
    assert [(a.num_channels, a.channel_dim) for a in acts] == [(10, -1)] * 2
    assert ffn(torch.randn(2, 5, 6)).shape == (2, 5, 6)


@pytest.mark.parametrize('cfg', PER_CHANNEL)
def test_convnext_block_channel_last(cfg):
    from mmpretrain.models.backbones.convnext import ConvNeXtBlock
    block = ConvNeXtBlock(8, act_cfg=dict(cfg))
    assert (block.act.num_channels, block.act.channel_dim) == (32, -1)
    block = ConvNeXtBlock(8, act_cfg=dict(cfg), linear_pw_conv=False)
    assert (block.act.num_channels, block.act.channel_dim) == (32, 1)
    assert block(torch.randn(2, 8, 5, 5)).shape == (2, 8, 5, 5)


def test_per_channel_values_follow_the_channel_dim():
    act = PDELU(per_channel=True, num_channels=3, channel_dim=1)
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([1.0, 2.0, 3.0]))
    x = -torch.ones(2, 3, 4, 4)
    y = act(x)
    for c in range(3):
        expected = (c + 1) * ((1 - 0.1)**10 - 1)
        torch.testing.assert_close(y[:, c], torch.full((2, 4, 4), expected))
    last = PDELU(num_channels=3, channel_dim=-1)
    last.load_state_dict(act.state_dict())
    torch.testing.assert_close(last(x.permute(0, 2, 3, 1)),
                               y.permute(0, 2, 3, 1))


def test_channel_mismatch_is_an_error():
    m = ConvModule(3, 8, 1, act_cfg=dict(type='PDELU'))
    with pytest.raises(ValueError, match='8 channels'):
        m.activate(torch.randn(2, 5, 4, 4))


def test_reuse_on_other_channel_count_is_an_error():
    act = PDELU()
    nn.Sequential(nn.Conv2d(3, 4, 1), act)
    with pytest.raises(ValueError, match='one activation per call site'):
        nn.Sequential(nn.Conv2d(3, 6, 1), act)


def test_lazy_fallback_and_checkpoint_shaping():
    act = PDELU()
    assert not act.channels_known
    with pytest.warns(UserWarning, match='channel count unknown'):
        y = act(torch.randn(2, 5, 3, 3))
    assert act.alpha.shape == (5, ) and y.shape == (2, 5, 3, 3)
    fresh = PDELU()
    fresh.load_state_dict(act.state_dict())
    assert fresh.alpha.shape == (5, )


@pytest.mark.parametrize('cfg', PER_CHANNEL + [dict(type='PDELU',
                                                    per_channel=False)])
def test_state_dict_round_trip_is_exact(cfg, tmp_path):
    model = ConvModule(3, 4, 1, act_cfg=dict(cfg))
    with torch.no_grad():
        for p in model.activate.parameters():
            p.copy_(torch.rand_like(p) + 0.5)
    torch.save(model.state_dict(), tmp_path / 'ckpt.pth')
    other = ConvModule(3, 4, 1, act_cfg=dict(cfg))
    other.load_state_dict(torch.load(tmp_path / 'ckpt.pth'))
    for a, b in zip(model.parameters(), other.parameters()):
        assert torch.equal(a, b)
    x = torch.randn(2, 3, 5, 5)
    assert torch.equal(model(x), other(x))


def test_modules_pickle_and_deepcopy():
    act = ConvModule(3, 4, 1, act_cfg=dict(type='PDELU')).activate
    for clone in (copy.deepcopy(act), pickle.loads(pickle.dumps(act))):
        assert torch.equal(clone.alpha, act.alpha)
        assert clone.channel_dim == 1


@pytest.mark.parametrize('module', [
    PDELU(t=1.5, num_channels=3),
    PDELU(t=0.9, per_channel=False),
    SwishBeta(beta=0.7, learnable=True),
    SwishBeta(per_channel=True, num_channels=3, channel_dim=-1),
])
def test_gradcheck(module):
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.rand_like(p))
    shape = (2, 3, 4) if module.channel_dim != -1 else (2, 4, 3)
    x = torch.randn(*shape, dtype=torch.float64) * 3
    x = x.masked_fill(x.abs() < 1e-3, 0.5)
    assert gradcheck_module(module, x)


def test_invalid_hyper_parameters_name_the_argument():
    from mmact import build_activation
    cases = [
        (dict(type='Softplus', beta=0), 'beta'),
        (dict(type='Softplus', beta=-1.0), 'beta'),
        (dict(type='Softplus', threshold=0), 'threshold'),
        (dict(type='CELU', alpha=0.0), 'alpha'),
        (dict(type='PDELU', t=0.0), 't'),
        (dict(type='PDELU', alpha=float('nan')), 'alpha'),
        (dict(type='SwishBeta', beta=float('inf')), 'beta'),
        (dict(type='PDELU', num_channels=0), 'num_channels'),
        (dict(type='PDELU', channel_dim=2), 'channel_dim'),
        (dict(type='SwishBeta', num_channels=4), 'num_channels'),
    ]
    for cfg, arg in cases:
        with pytest.raises(ValueError, match=arg):
            build_activation(cfg)
