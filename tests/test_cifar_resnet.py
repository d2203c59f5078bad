"""CIFARResNet: He et al.'s CIFAR ResNets as an mmpretrain backbone."""
import pytest
import torch
import torch.nn as nn

import mmact  # noqa: F401
from mmact.openmmlab import CIFARResNet


def _classifier(**backbone):
    import mmpretrain.models  # noqa: F401
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    # Another test may leave a default scope, which builds look up first.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='CIFARResNet', **backbone),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64,
                      loss=dict(type='CrossEntropyLoss'))))


# The parameter counts of the reference CIFAR ResNets (shortcut A, 10-class
# head): 0.27 M, 0.46 M, 0.66 M, 0.85 M, 1.7 M.
@pytest.mark.parametrize('depth,params', [
    (20, 269722), (32, 464154), (44, 658586), (56, 853018), (110, 1727962)])
def test_parameter_counts_of_the_paper_family(depth, params):
    model = _classifier(depth=depth)
    assert sum(p.numel() for p in model.parameters()) == params
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == depth  # + the classifier


def test_shortcuts_and_stage_outputs():
    a = CIFARResNet(depth=20, out_indices=(0, 1, 2))
    outs = a(torch.randn(2, 3, 32, 32))
    assert [o.shape[1:] for o in outs] == [(16, 32, 32), (32, 16, 16),
                                            (64, 8, 8)]
    # Shortcut A is parameter-free; B adds two 1x1 conv + BN projections.
    b = CIFARResNet(depth=20, shortcut='B')
    extra = sum(p.numel() for p in b.parameters()) - sum(
        p.numel() for p in a.parameters())
    assert extra == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    # Shortcut A: the identity, subsampled, zero-padded on both sides.
    block = a.stages[1][0]
    x = torch.randn(1, 16, 8, 8)
    for bn in (block.conv1.bn, block.bn2):
        nn.init.zeros_(bn.weight)
        nn.init.zeros_(bn.bias)
    block.eval()
    out = block(x)
    assert out.shape == (1, 32, 4, 4)
    torch.testing.assert_close(out[:, 8:24], torch.relu(x[:, :, ::2, ::2]))
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def test_every_activation_comes_from_act_cfg():
    model = CIFARResNet(depth=20, act_cfg=dict(type='ACON-C'))
    acts = [m for m in model.modules() if type(m).__name__ == 'AconC']
    assert len(acts) == 1 + 2 * 9  # stem + two per block
    # Every channel count is known at build time (DDP, optimizers).
    assert [a.num_channels for a in acts] == [16] * 7 + [32] * 6 + [64] * 6


@pytest.mark.parametrize('kwargs,match', [
    (dict(depth=21), r'depth must be 6n \+ 2'),
    (dict(shortcut='C'), "shortcut must be 'A' or 'B'"),
    (dict(out_indices=(3, )), r'out_indices must be stages in 0\.\.2'),
])
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CIFARResNet(**kwargs)
