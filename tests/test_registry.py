"""The name table: every name builds everywhere OpenMMLab builds activations."""
import importlib
import subprocess
import sys

import pytest
import torch
from mmcv.cnn import ConvModule, build_activation_layer
from mmcv.cnn.bricks.transformer import FFN
from mmengine.registry import MODELS

import mmact
from mmact.modules import ChannelwiseActivation
from mmact.registry import FAMILIES

NAMES = [info.name for info in mmact.list_activations()]
MMACT_NAMES = [i.name for i in mmact.list_activations() if i.source == 'mmact']
# Names whose modules have no fixed input->output map to compare (random).
STOCHASTIC = {'RReLU'}
ELEMENTWISE_INPUTS = {
    'NCHW': torch.randn(2, 6, 5, 4),
    'NHWC': torch.randn(2, 5, 4, 6),
    'BLC': torch.randn(2, 7, 6),
}


def test_every_mmact_class_is_in_the_root_registry():
    for info in mmact.list_activations():
        assert MODELS.module_dict[info.name] is mmact.get_activation(info.name)


def test_table_contents():
    names = set(NAMES)
    required = {
        'SELU', 'CELU', 'Softplus', 'Mish', 'GELUTanh', 'GELU-tanh',
        'QuickGELU', 'GELU-sigmoid', 'SwishBeta', 'HardSigmoid', 'HardSiLU',
        'PDELU', 'ReLU', 'GELU', 'SiLU', 'LReLU', 'PReLU', 'ELU', 'Swish'
    }
    assert required <= names
    infos = {i.name: i for i in mmact.list_activations()}
    assert infos['PDELU'].learnable == 'yes'
    assert infos['SwishBeta'].learnable == 'optional'
    assert infos['ReLU'].source == 'mmcv' and infos['SELU'].source == 'mmact'
    assert infos['gelu_tanh'].canonical == 'GELUTanh'
    assert all(i.family in FAMILIES for i in infos.values())
    assert [i.name for i in mmact.list_activations('gelu')] == [
        n for n in NAMES if infos[n].family == 'gelu']


@pytest.mark.parametrize('name', NAMES)
def test_builds_and_honours_inplace_false(name):
    act = build_activation_layer(dict(type=name, **(
        {'inplace': False} if 'inplace' in _init_args(name) else {})))
    x = torch.randn(3, 4, 5, 6)
    before = x.clone()
    y = _shaped(act, x)(x)
    assert y.shape == x.shape
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def _shaped(act, x, dim=1):
    # Outside a model nothing feeds the activation: tell it the channels.
    if isinstance(act, ChannelwiseActivation) and not act.channels_known:
        act.set_channels(x.shape[dim], 1 if dim == 1 else -1)
    return act


def _init_args(name):
    import inspect
    return inspect.signature(mmact.get_activation(name).__init__).parameters


@pytest.mark.parametrize('name', NAMES)
def test_in_conv_module_nchw(name):
    # ConvModule injects inplace=True unless the name is one of mmcv's
    # exact exempt spellings: every name must accept it.
    module = ConvModule(3, 6, 3, padding=1, act_cfg=dict(type=name))
    x = torch.randn(2, 3, 8, 8)
    y = module(x)
    assert y.shape == (2, 6, 8, 8)
    if name not in STOCHASTIC:
        torch.testing.assert_close(y, module.activate(module.conv(x)))


@pytest.mark.parametrize('name', NAMES)
def test_in_ffn_blc(name):
    ffn = FFN(embed_dims=6, feedforward_channels=12,
              act_cfg=dict(type=name), add_identity=False)
    assert ffn(torch.randn(2, 7, 6)).shape == (2, 7, 6)


@pytest.mark.parametrize('name', NAMES)
def test_in_convnext_block_nhwc(name):
    from mmpretrain.models.backbones.convnext import ConvNeXtBlock
    block = ConvNeXtBlock(8, act_cfg=dict(type=name))
    assert block(torch.randn(2, 8, 6, 6)).shape == (2, 8, 6, 6)


@pytest.mark.parametrize('layout', sorted(ELEMENTWISE_INPUTS))
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('name', MMACT_NAMES)
def test_low_precision_keeps_dtype(name, dtype, layout):
    x = ELEMENTWISE_INPUTS[layout]
    torch.manual_seed(0)
    # eval: Meta-ACON's BatchNorm over a batch of two would amplify the
    # fp16 rounding of its input into a different β.
    act = _shaped(build_activation_layer(dict(type=name)), x,
                  1 if layout == 'NCHW' else -1).eval()
    y = act(x.to(dtype))
    assert y.dtype == dtype
    reference = act.float()(x)
    torch.testing.assert_close(y.float(), reference, atol=0.05, rtol=0.02)


def test_unknown_name_lists_closest():
    with pytest.raises(KeyError, match='closest valid names: Mish, mish'):
        mmact.get_activation('Mishh')
    with pytest.raises(KeyError, match='names: gelu_tanh'):
        mmact.build_activation(dict(type='gelu-tanh2'))
    with pytest.raises(KeyError, match='names: pdelu'):
        mmact.get_activation('pdElu')


def test_reimport_and_reload_never_raise():
    importlib.reload(mmact.modules.classic)
    importlib.reload(mmact.modules.compat)
    importlib.reload(mmact)
    assert MODELS.module_dict['SELU'] is mmact.modules.classic.SELU
    assert build_activation_layer(dict(type='SELU'))(torch.ones(1)) > 1


@pytest.mark.parametrize('order', [
    'mmact, mmseg.models, mmdet.models, mmpretrain.models, mmagic.models',
    'mmagic.models, mmdet.models, mmact, mmseg.models, mmact',
    'mmcv.cnn, mmpretrain.models, mmseg.models, mmact, mmdet.models',
])
def test_import_orders(order):
    code = '; '.join(f'import {m}' for m in order.split(', '))
    code += ('; from mmengine.registry import MODELS; '
             'import mmseg.registry, mmdet.registry; '
             "assert mmseg.registry.MODELS.build(dict(type='PDELU', "
             "num_channels=4)).alpha.shape == (4,); "
             "assert type(mmdet.registry.MODELS.build(dict(type='GELU-tanh'))"
             ").__name__ == 'GELUTanh'")
    subprocess.run([sys.executable, '-c', code], check=True)


def test_cli_list_and_plot(tmp_path):
    out = subprocess.run([sys.executable, '-m', 'mmact', 'list'],
                         check=True, capture_output=True, text=True).stdout
    assert 'PDELU' in out and 'exponential' in out
    assert f'{len(NAMES)} names' in out
    png = tmp_path / 'acts.png'
    subprocess.run([sys.executable, '-m', 'mmact', 'plot', 'GELU', 'Mish',
                    'PDELU:t=1.5', '--out', str(png)], check=True)
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    bad = subprocess.run([sys.executable, '-m', 'mmact', 'plot', 'Mishh',
                          '--out', str(png)], capture_output=True, text=True)
    assert bad.returncode == 2 and 'Mish' in bad.stderr
