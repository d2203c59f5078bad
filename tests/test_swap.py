"""ActivationSwap on the downstream models that hard-code activations."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import DefaultScope, MODELS

import mmact  # noqa: F401
from mmact.openmmlab import swap
from mmact.openmmlab.swap import CallSiteActivation, swap_activations

DITAC = dict(type='DiTAC', init='prior')


@pytest.fixture
def mmdet_scope():
    import mmdet.models  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def _resnet(depth=50, **kwargs):
    from mmdet.models.backbones import ResNet
    torch.manual_seed(0)
    model = ResNet(depth=depth, out_indices=(3, ), **kwargs)
    model.eval()  # mmdet's ResNet.train() returns None
    return model


def _count(model, cls):
    return sum(isinstance(m, cls) for m in model.modules())


def _acts(module):
    return module.acts if isinstance(module, CallSiteActivation) else [module]


def test_bottleneck_relu_split_per_call_site_with_channels():
    model = _resnet(50)
    swap_activations(model, [dict(replace='ReLU')], dict(type='ACON-C'))
    assert _count(model, nn.ReLU) == 0
    for layer, planes in zip(range(1, 5), (64, 128, 256, 512)):
        block = getattr(model, f'layer{layer}')[0]
        assert [a.num_channels for a in _acts(block.relu)] == [
            planes, planes, 4 * planes]
    assert model.relu.num_channels == 64  # the stem: fed by norm1


def test_swapped_acon_that_is_relu_reproduces_resnet():
    """ACON-C with p1 = 1, p2 = 0, huge β is ReLU: the swapped ResNet-18
    computes the original's output, so every call reached an activation of
    the right size in the right place."""
    model = _resnet(18)
    reference = copy.deepcopy(model)
    swap_activations(model, [dict(replace='ReLU')], dict(type='ACON-C'))
    assert [a.num_channels for a in _acts(model.layer2[0].relu)] == [128, 128]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(('.p1', '.p2', '.beta')):
                p.fill_({'1': 1.0, '2': 0.0, 'a': 1e4}[name[-1]])
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(model(x)[0], reference(x)[0], rtol=1e-4,
                               atol=1e-4)


def test_calls_selects_the_bottleneck_activation_after_the_3x3_conv():
    """ACON's ResNet protocol: only the activation after conv2 of every
    Bottleneck changes; its other two calls keep the original ReLU."""
    model = _resnet(50)
    reference = copy.deepcopy(model)
    swap_activations(model, [dict(replace='ReLU', include='layer*',
                                  calls=[1])], dict(type='ACON-C'))
    block = model.layer3[2]
    first, second, third = block.relu.acts
    assert first is third and isinstance(first, nn.ReLU)
    assert second.num_channels == 256 and isinstance(model.relu, nn.ReLU)
    added = sum(p.numel() for p in model.parameters()) - sum(
        p.numel() for p in reference.parameters())
    widths = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
    assert added == 3 * sum(widths)  # p1, p2, beta per channel
    # With a parameter-free activation the block is computed by hand.
    block = copy.deepcopy(reference.layer1[1])
    swap_activations(block, [dict(replace='ReLU', calls=1)],
                     dict(type='Tanh'))
    x = torch.randn(2, 256, 8, 8)
    out = reference.layer1[1].relu(reference.layer1[1].bn1(
        reference.layer1[1].conv1(x)))
    out = torch.tanh(block.bn2(block.conv2(out)))
    out = torch.relu(block.bn3(block.conv3(out)) + x)
    torch.testing.assert_close(block(x), out)
    with pytest.raises(ValueError, match=r'layer1\.0\.relu runs 3 time.*'
                       r'calls=\[3\]'):
        swap_activations(_resnet(50), [dict(replace='ReLU', include='layer1',
                                            calls=[3])], dict(type='Tanh'))


def test_every_ditac_in_a_swapped_resnet_gets_a_gradient():
    model = _resnet(50)
    model.train()
    swap_activations(model, [dict(replace='ReLU')], DITAC)
    thetas = [p for n, p in model.named_parameters() if n.endswith('theta')]
    assert len(thetas) == 1 + 16 * 3  # stem + three calls per Bottleneck
    model(torch.randn(2, 3, 32, 32))[0].mean().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in thetas)


def test_with_cp_recompute_reuses_the_same_activations():
    model = _resnet(18, with_cp=True)
    model.train()
    plain = copy.deepcopy(model)
    for block in plain.modules():
        if hasattr(block, 'with_cp'):
            block.with_cp = False
    for m in (model, plain):
        swap_activations(m, [dict(replace='ReLU')], DITAC)
    plain.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    model(x)[0].sum().backward()
    plain(x)[0].sum().backward()
    for (n, a), b in zip(model.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=n)


def test_deep_stem_and_heads_of_mmseg_pspnet():
    import mmseg.models  # noqa: F401
    from mmseg.models.backbones import ResNetV1c
    model = ResNetV1c(depth=50)
    assert _count(model, nn.ReLU) == 3 + 16  # deep stem + one per block
    swap_activations(model, [dict(replace='ReLU')], DITAC)
    assert _count(model, nn.ReLU) == 0
    assert all(type(model.stem[i]).__name__ == 'DiTAC' for i in (2, 5, 8))


def test_path_filters_limit_the_swap():
    model = _resnet(18)
    swap_activations(model, [dict(replace='ReLU', include=['layer1', 'relu'],
                                  exclude=['layer1.1'])], DITAC)
    kinds = {name: type(m).__name__ for name, m in model.named_modules()
             if name.endswith('relu')}
    assert kinds == {
        'relu': 'DiTAC', 'layer1.0.relu': 'CallSiteActivation',
        'layer1.1.relu': 'ReLU', 'layer2.0.relu': 'ReLU',
        'layer2.1.relu': 'ReLU', 'layer3.0.relu': 'ReLU',
        'layer3.1.relu': 'ReLU', 'layer4.0.relu': 'ReLU',
        'layer4.1.relu': 'ReLU'
    }


def test_rpn_functional_relu_is_replaced_only_inside_its_owner(mmdet_scope):
    from mmdet.models.dense_heads import RPNHead
    head = RPNHead(in_channels=8, feat_channels=8,
                   anchor_generator=dict(type='AnchorGenerator', scales=[8],
                                         ratios=[1.0], strides=[4]))
    replaced = swap_activations(head, [dict(replace='F.relu')],
                                dict(type='GELU'))
    assert [r.path for r in replaced] == ['swapped_relu']
    x = torch.randn(1, 8, 6, 6)
    cls_score = head((x, ))[0][0]
    expected = head.rpn_cls(F.gelu(head.rpn_conv(x)))
    torch.testing.assert_close(cls_score, expected)
    # Elsewhere F.relu is still ReLU, also in mmdet's own module namespace.
    import mmdet.models.dense_heads.rpn_head as rpn_module
    assert rpn_module.F.relu(torch.tensor([-1.0])).item() == 0.0
    assert F.relu is torch.nn.functional.relu


def test_per_channel_functional_swap_takes_channels_from_a_dry_run(
        mmdet_scope):
    from mmdet.models.dense_heads import RPNHead
    head = RPNHead(in_channels=8, feat_channels=12,
                   anchor_generator=dict(type='AnchorGenerator', scales=[8],
                                         ratios=[1.0], strides=[4]))
    swap_activations(head, [dict(replace='F.relu')], dict(type='PDELU'))
    assert head.swapped_relu.num_channels == 12
    head((torch.randn(1, 8, 6, 6), ))[0][0].sum().backward()
    assert head.swapped_relu.alpha.grad is not None


def test_faster_rcnn_swap_counts_and_log(mmdet_scope, tmp_path):
    from mmengine.config import Config
    base = tmp_path / 'cfg.py'
    base.write_text(
        "_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']\n")
    cfg = Config.fromfile(str(base))
    cfg.model.backbone.init_cfg = None
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(swap, 'print_log', lambda msg, **k: lines.append(msg))
        model = MODELS.build(
            dict(type='ActivationSwap', model=cfg.model, act_cfg=DITAC,
                 rules=[dict(replace=['ReLU', 'F.relu'])]))
    assert type(model).__name__ == 'FasterRCNN'
    assert _count(model, nn.ReLU) == 0
    assert len(model.roi_head.bbox_head.relu.acts) == 2  # two shared fcs
    # FPN's F.relu (relu_before_extra_convs) is not called: not replaced.
    assert not hasattr(model.neck, 'swapped_relu')
    summary = '\n'.join(lines)
    assert 'ActivationSwap: 52 activations replaced' in summary
    assert 'ReLU -> DiTAC: 51' in summary and 'F.relu -> DiTAC: 1' in summary


def test_biggan_output_tanh_swap():
    import mmagic.models  # noqa: F401
    from mmagic.models.editors.biggan import BigGANGenerator
    with DefaultScope.overwrite_default_scope('mmagic'):
        gen = BigGANGenerator(output_scale=32, noise_size=16, num_classes=0,
                              base_channels=8, with_shared_embedding=False,
                              sn_eps=1e-6, init_cfg=dict(type='ortho'))
    swap_activations(gen, [dict(replace='torch.tanh')],
                     dict(type='DiTAC', init='prior'))
    captured = []
    gen.output_layer.register_forward_hook(
        lambda m, i, o: captured.append(o))
    out = gen(torch.randn(2, 16))
    torch.testing.assert_close(out, gen.swapped_tanh(captured[0]))
    assert not torch.allclose(out, torch.tanh(captured[0]))


@pytest.mark.parametrize('rules,error,match', [
    ([dict(replace='ReLUU')], KeyError, r"rules\[0\]\.replace.*ReLU"),
    ([dict(replace='F.relux')], KeyError, 'unknown functional call'),
    ([dict(type='ReLU')], ValueError, r'unknown keys \[.type.\]'),
    ([dict(include='backbone')], ValueError, '"replace" is required'),
    ([dict(replace='ReLU', act_cfg=dict(type='DiTACC'))], KeyError,
     r'act_cfg: unknown activation .DiTACC.; closest valid names: DiTAC'),
    ([], ValueError, 'non-empty list'),
    ([dict(replace='ReLU', calls=[-1])], ValueError, r'calls must be call'),
    ([dict(replace=['ReLU', 'F.relu'], calls=[0])], ValueError,
     r'cannot go with functions \(F\.relu\)'),
])
def test_bad_rules_fail_with_the_problem_named(rules, error, match):
    with pytest.raises(error, match=match):
        swap_activations(nn.Sequential(nn.ReLU()), rules, DITAC)


def test_swapped_checkpoint_round_trip():
    model = _resnet(18)
    swap_activations(model, [dict(replace='ReLU')], DITAC)
    other = _resnet(18)
    swap_activations(other, [dict(replace='ReLU')], DITAC)
    other.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(model(x)[0], other(x)[0])


def _stylegan2(kind):
    import mmagic.models  # noqa: F401
    torch.manual_seed(0)
    if kind == 'D':
        from mmagic.models.editors.stylegan2 import StyleGAN2Discriminator
        return StyleGAN2Discriminator(in_size=32)
    from mmagic.models.editors.stylegan2 import StyleGAN2Generator
    return StyleGAN2Generator(out_size=32, style_channels=64,
                              num_mlps=2).eval()


@pytest.mark.parametrize('kind', ['D', 'G'])
def test_stylegan2_fused_bias_leakyrelu_swap_is_exact_and_keeps_keys(kind):
    """LeakyReLU 0.2 in place of StyleGAN2's fused bias-LeakyReLU (modules
    and the linear layers' fused partials): the same network — same outputs
    and input gradients, same state-dict keys (zoo checkpoints load)."""
    from mmcv.ops import FusedBiasLeakyReLU
    from mmact.openmmlab.swap import BiasedActivation
    plain, swapped = _stylegan2(kind), _stylegan2(kind)
    fused = _count(plain, FusedBiasLeakyReLU)
    replaced = swap_activations(
        swapped, [dict(replace=['FusedBiasLeakyReLU'])],
        dict(type='LeakyReLU', negative_slope=0.2))
    assert _count(swapped, FusedBiasLeakyReLU) == 0
    # D: 14 modules + the first linear layer's partial; G: every style conv
    # and both mapping layers (partials).
    assert _count(swapped, BiasedActivation) == len(replaced) > fused
    assert swapped.state_dict().keys() == plain.state_dict().keys()
    swapped.load_state_dict(plain.state_dict())
    assert all(r.unused == ('negative_slope=0.2', ) for r in replaced)
    g = torch.Generator().manual_seed(1)
    if kind == 'D':
        x = torch.randn(2, 3, 32, 32, generator=g)
        outs = []
        for net in (plain, swapped):
            xx = x.clone().requires_grad_(True)
            y = net(xx)
            outs.append((y, torch.autograd.grad(y.sum(), xx)[0]))
        torch.testing.assert_close(outs[0], outs[1])
    else:
        z = torch.randn(2, 64, generator=g)
        torch.manual_seed(2)
        y0 = plain(z, randomize_noise=False)
        torch.manual_seed(2)
        torch.testing.assert_close(swapped(z, randomize_noise=False), y0)


def test_stylegan2_ditac_discriminator_r1_penalty_trains():
    """DiTAC in every StyleGAN2 D layer: R1 (mmagic's own loss) is finite,
    non-zero, and gives θ and the kept biases a gradient."""
    from mmagic.models.losses import r1_gradient_penalty_loss
    disc = _stylegan2('D')
    swap_activations(disc, [dict(replace=['FusedBiasLeakyReLU'])], DITAC)
    real = torch.randn(2, 3, 32, 32,
                       generator=torch.Generator().manual_seed(3))
    r1 = r1_gradient_penalty_loss(disc, real)
    r1.backward()
    assert torch.isfinite(r1) and r1 > 0
    thetas = [p for n, p in disc.named_parameters() if n.endswith('theta')]
    assert len(thetas) == _count(disc, swap.BiasedActivation) == 9
    assert all(p.grad.abs().sum() > 0 for p in thetas)
    assert disc.convs[0][1].bias.grad.abs().sum() > 0


def test_biased_activation_needs_a_bias():
    from mmact.openmmlab.swap import BiasedActivation
    with pytest.raises(ValueError, match='no bias'):
        BiasedActivation(nn.ReLU(), None, 1.0)(torch.randn(2, 3))
