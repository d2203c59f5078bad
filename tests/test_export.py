"""Every activation exports to ONNX in standard operators (both of torch's
exporters) and ONNX Runtime reproduces it, with dynamic batch and spatial
axes; DiTAC's table becomes a constant of the graph and is never stale."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

import mmact
from mmact.ops.ditac_export import EXPORT_TOLERANCE, ditac_traced

ROOT = Path(__file__).resolve().parents[1]
CANONICAL = sorted({i.canonical for i in mmact.list_activations()})
# The activations whose computation depends on the layout (per-channel
# parameters, layer statistics) or on a table.
LAYOUT = ['ACON-C', 'AconA', 'PDELU', 'LA-SiLU', 'LA-HardSiLU', 'DiTAC',
          'L-DiTAC', 'SwishBeta']


def _cfg(name):
    cfg = dict(type=name)
    if 'DiTAC' in name:
        cfg['init'] = 'prior'  # a warp that moves: the table matters
    if name in ('SwishBeta', ):
        cfg['per_channel'] = True
    return cfg


def _export(model, x, path, dynamo, dims):
    """Export with the given axes of the input dynamic."""
    if dynamo:
        shapes = ({d: torch.export.Dim(f'd{d}') for d in dims}, )
        torch.onnx.export(model, (x, ), path, dynamo=True,
                          input_names=['x'], output_names=['y'],
                          dynamic_shapes=shapes)
    else:
        torch.onnx.export(model, (x, ), path, dynamo=False,
                          input_names=['x'], output_names=['y'],
                          dynamic_axes={'x': {d: f'd{d}' for d in dims}})
    return onnx.load(path)


def _run(path, x):
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def _check(model, x, other, tmp_path, dynamo, dims):
    mmact.prepare_export(model.eval())  # DiTAC's table and exported form
    path = str(tmp_path / 'model.onnx')
    graph = _export(model, x, path, dynamo, dims)
    domains = {node.domain for node in graph.graph.node}
    assert domains <= {'', 'ai.onnx'}, domains  # standard operators only
    with torch.no_grad():
        ref = model(other)
    out = _run(path, other)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5)


# torch 2.13's exporter has no ONNX function for the op torch's RReLU
# traces to (aten.rrelu_with_noise_functional), even in eval mode, where it
# is a LeakyReLU; the TorchScript exporter exports it.
UPSTREAM = {('RReLU', True): 'torch.onnx has no translation of '
            'aten.rrelu_with_noise_functional'}


@pytest.mark.parametrize('dynamo', [True, False], ids=['export', 'script'])
@pytest.mark.parametrize('name', CANONICAL)
def test_every_activation_exports_in_a_conv_module(name, dynamo, tmp_path,
                                                   request):
    if (name, dynamo) in UPSTREAM:
        request.applymarker(pytest.mark.xfail(
            reason=UPSTREAM[name, dynamo], strict=True))
    torch.manual_seed(0)
    model = ConvModule(3, 8, 3, padding=1, act_cfg=_cfg(name))
    x = torch.randn(2, 3, 16, 16) * 2
    other = torch.randn(3, 3, 20, 12) * 2  # another batch, H and W
    _check(model, x, other, tmp_path, dynamo, dims=(0, 2, 3))


@pytest.mark.parametrize('layout', ['channels_last', 'tokens'])
@pytest.mark.parametrize('name', LAYOUT)
def test_channel_last_and_token_layouts(name, layout, tmp_path):
    """After a Linear (ConvNeXt blocks: N, H, W, C; FFNs: B, L, C)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), mmact.build_activation(_cfg(name)))
    if layout == 'tokens':
        x, other, dims = torch.randn(2, 5, 4), torch.randn(3, 7, 4), (0, 1)
    else:
        x, other = torch.randn(2, 6, 6, 4), torch.randn(1, 5, 9, 4)
        dims = (0, 1, 2)
    _check(model, x * 2, other * 2, tmp_path, True, dims)


def test_ditac_table_is_the_current_thetas(tmp_path):
    """θ changed after the last forward: the export refuses the old table
    and names the fix; after prepare_export the graph computes the current
    function, also exported in training mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), mmact.build_activation(
        dict(type='DiTAC', init='prior')))
    x = torch.randn(2, 3, 10, 10) * 2
    path = str(tmp_path / 'ditac.onnx')
    with torch.no_grad():
        model(x)
        model[1].theta.mul_(1.5)
    for dynamo in (True, False):
        with pytest.raises(Exception, match=r'prepare_export\(model\)'):
            _export(model, x, path, dynamo, (0, ))
    mmact.prepare_export(model).train()
    _export(model, x, path, True, (0, ))
    with torch.no_grad():
        ref = model(x)
        model[1].theta.div_(1.5)
        old = model(x)
    out = _run(path, x)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(out - old.numpy()).max() > 1e-3  # the table mattered


def _prior_module(name, seed, **kw):
    torch.manual_seed(seed)
    module = mmact.build_activation(dict(type=name, init='prior', **kw))
    return mmact.prepare_export(module.eval())


@pytest.mark.parametrize('name,kw', [
    ('DiTAC', {}), ('GE-DiTAC', {}), ('L-DiTAC', {}), ('inf-DiTAC', {}),
    ('DiTAC', dict(a=-3.0, b=3.0))], ids=lambda v: str(v))
def test_ditac_exported_form_matches_the_op(name, kw):
    """The exported computation (run eagerly: the same tensor operations)
    against the module over prior draws, inputs dense in the window and
    beyond it; float32 and float64. Draws with steep warps included: the
    uniform grid's offsets are exact, so its error stays at the table's."""
    uniform = 0
    for seed in range(40):
        module = _prior_module(name, seed, **kw)
        a, b = module.a, module.b
        table = module.tables(with_grad=False)
        uniform += table.derived[('uniform', module.spec)] is not None
        x = torch.cat([a + (b - a) * torch.rand(50_000, dtype=torch.float64),
                       torch.randn(5_000, dtype=torch.float64) * 4])
        with torch.no_grad():
            for dtype, tol in ((torch.float32, 4e-6),
                               (torch.float64, EXPORT_TOLERANCE)):
                xd = x.to(dtype)
                torch.testing.assert_close(
                    ditac_traced(xd, table, module.spec), module(xd),
                    rtol=0, atol=tol, msg=f'seed {seed}, {dtype}')
    assert uniform >= 37, uniform  # the refined form is the exception


def _op_types(path):
    return {node.op_type for node in onnx.load(path).graph.node}


def test_ditac_exported_forms(tmp_path):
    """The uniform form (gathers of the uniform grid: GatherElements), the
    refined form for a window whose ends are not dyadic (Gather), and the
    refined form with a warning when the exported form was not prepared;
    a loaded checkpoint has its exported form. ONNX Runtime matches the
    module in each."""
    x = torch.randn(2, 3, 10, 10) * 2
    path = str(tmp_path / 'ditac.onnx')

    def exported(module, expect):
        with torch.no_grad():
            ref = module(x)
        torch.onnx.export(module, (x, ), path, dynamo=True)
        assert expect in _op_types(path)
        np.testing.assert_allclose(_run(path, x), ref.numpy(), rtol=1e-5,
                                   atol=1e-5)

    exported(_prior_module('DiTAC', 0), 'GatherElements')
    exported(_prior_module('DiTAC', 0, a=-0.3), 'Gather')
    torch.manual_seed(0)
    bare = mmact.build_activation(dict(type='DiTAC', init='prior')).eval()
    with torch.no_grad():
        bare(x)  # its table, not the exported form
    with pytest.warns(UserWarning, match=r'prepare_export\(model\)'):
        exported(bare, 'Gather')
    loaded = mmact.build_activation(dict(type='DiTAC')).eval()
    loaded.load_state_dict(_prior_module('DiTAC', 1).state_dict())
    exported(loaded, 'GatherElements')


def test_torch_export_graph_has_only_aten_ops():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 1), mmact.build_activation(_cfg('Meta-ACON')),
        nn.Conv2d(8, 8, 1), mmact.build_activation(_cfg('LA-SiLU')),
        nn.Conv2d(8, 8, 1), mmact.build_activation(_cfg('DiTAC'))).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = model(x)
    program = torch.export.export(model, (x, ))
    targets = {str(n.target) for n in program.graph.nodes
               if n.op == 'call_function'}
    assert not [t for t in targets if 'mmact' in t], targets
    torch.testing.assert_close(program.module()(x), ref)


def _train(config, data, work):
    """Train the config CPU-sized on ``data``; the last checkpoint."""
    train = subprocess.run([sys.executable, 'tools/train.py', config,
                            '--preset', 'cpu', '--data-root', data,
                            '--work-dir', str(work)], cwd=ROOT,
                           capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-3000:]
    return (work / 'last_checkpoint').read_text().strip()


def _deploy(config, make, tmp_path, *extra):
    """Train the config CPU-sized on generated data, then tools/deploy.py."""
    data = make(str(tmp_path / 'data'))
    ckpt = _train(config, data, tmp_path / 'w')
    common = ['--preset', 'cpu', '--data-root', data, '--work-dir',
              str(tmp_path / 'w')]
    run = subprocess.run([sys.executable, 'tools/deploy.py', config, ckpt,
                          *common, '--out', str(tmp_path / 'd'), *extra],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    graph = onnx.load(str(tmp_path / 'd' / 'model.onnx'))
    assert {n.domain for n in graph.graph.node} <= {'', 'ai.onnx'}
    rows = [line.split('|')[1:-1] for line in
            (tmp_path / 'd' / 'report.md').read_text().splitlines()
            if line.startswith('| ') and not line.startswith('| input')]
    return [[cell.strip() for cell in row] for row in rows]


@pytest.mark.parametrize('config,tol', [
    pytest.param('configs/rtmdet/rtmdet_tiny-ditac_8xb32-300e_coco.py', 1e-4,
                 marks=pytest.mark.slow),
    ('configs/retinanet/retinanet_r50-ditac_fpn_1x_coco.py', 1e-5)],
    ids=['rtmdet-ema', 'retinanet-swapped'])
def test_deploy_tool_detection(config, tol, tmp_path):
    """Dynamic batch and size through one graph: RTMDet-tiny with DiTAC in
    backbone, neck and head (and the EMA weights the test evaluates), and
    RetinaNet R-50 with its ReLUs swapped for DiTAC (ActivationSwap)."""
    from mmact.datasets import make_coco
    rows = _deploy(config,
                   lambda root: make_coco(root, train=2, val=2, size=96),
                   tmp_path, '--images', '2')
    assert [r[1] for r in rows] == ['1x3x64x64', '1x3x64x64', '2x3x96x96']
    assert all(float(r[2]) < tol * max(1.0, float(r[3])) for r in rows)


def test_deploy_tool_segmentation_labels_agree(tmp_path):
    """The CPU-sized UperNet ConvNeXt DiTAC main job, static shapes: the
    label maps agree pixel for pixel. (The TorchScript exporter refuses
    UperNet's pyramid pooling on feature maps that the pool sizes do not
    divide, as at 64 px.)"""
    from mmact.datasets import make_ade20k
    rows = _deploy('configs/demo/upernet_convnext_ditac_cpu-tiny.py',
                   lambda root: make_ade20k(root, train=2, val=2, size=64),
                   tmp_path, '--static')
    assert len(rows) == 2
    assert all(float(r[2]) < 1e-4 for r in rows)
    assert all(r[4] == '100.00 %' for r in rows)


@pytest.mark.slow  # the swap's export: retinanet-swapped above
def test_deploy_tool_swapped_segmentation(tmp_path):
    """PSPNet R-50 with its ReLUs swapped for DiTAC, static shapes: every
    label equal."""
    from mmact.datasets import make_cityscapes
    rows = _deploy(
        'configs/pspnet/pspnet_r50-d8-ditac_4xb2-40k_cityscapes-512x1024.py',
        lambda root: make_cityscapes(root, train=2, val=2), tmp_path,
        '--static', '--images', '2')
    assert [r[1] for r in rows] == ['1x3x64x128'] * 2
    assert all(float(r[2]) < 1e-5 and r[4] == '100.00 %' for r in rows)


BASELINES = {
    'configs/convnext/convnext-tiny-gelu_upernet_8xb2-amp-160k_'
    'ade20k-512x512.py': ('ade20k', '--static'),
    'configs/pspnet/pspnet_r50-d8-relu_4xb2-40k_cityscapes-512x1024.py':
    ('cityscapes', '--static'),
    'configs/retinanet/retinanet_r50-relu_fpn_1x_coco.py': ('coco', ),
    'configs/rtmdet/rtmdet_tiny-silu_8xb32-300e_coco.py': ('coco', ),
}


@pytest.mark.slow
@pytest.mark.parametrize('config', sorted(BASELINES))
def test_deploy_tool_baselines(config, tmp_path):
    """The DiTAC models' baselines (GELU, ReLU, SiLU) through the same
    export and comparison, CPU-sized."""
    from mmact import datasets
    kind, *extra = BASELINES[config]
    make = dict(ade20k=lambda root: datasets.make_ade20k(root, 2, 2, size=64),
                cityscapes=lambda root: datasets.make_cityscapes(root, 2, 2),
                coco=lambda root: datasets.make_coco(root, 2, 2, size=96))
    rows = _deploy(config, make[kind], tmp_path, '--images', '2', *extra)
    assert len(rows) == (2 if extra else 3)
    assert all(float(r[2]) < 1e-4 * max(1.0, float(r[3])) for r in rows)
    assert all(r[4] == '100.00 %' for r in rows if len(r) > 4)


@pytest.mark.slow
def test_mmdeploy_segmentation_from_checkpoint(tmp_path):
    """mmdeploy's torch2onnx exports the CPU-sized UperNet ConvNeXt DiTAC
    from a checkpoint (static 192x192: mmdeploy's adaptive-pooling rewrite
    needs feature maps at least as large as the pooling grid); its ONNX
    Runtime wrapper gives PyTorch's logits (deploy config with the argmax
    left out of the graph). ~6 min on 2 cores."""
    from mmdeploy.apis import torch2onnx
    from mmdeploy.apis.utils import build_task_processor
    from mmdeploy.utils import load_config
    from mmengine.config import Config

    from mmact.datasets import make_ade20k
    config = 'configs/demo/upernet_convnext_ditac_cpu-tiny.py'
    data = make_ade20k(str(tmp_path / 'data'), train=2, val=2, size=64)
    ckpt = _train(config, data, tmp_path / 'w')
    model_cfg = tmp_path / 'w' / (Path(config).stem + '.py')  # as trained
    deploy = Config.fromfile(str(
        ROOT / 'configs/deploy/segmentation_onnxruntime_static-512x512.py'))
    deploy.onnx_config.input_shape = [192, 192]
    deploy.codebase_config.with_argmax = False
    deploy.dump(str(tmp_path / 'deploy.py'))
    image = sorted((Path(data) / 'images' / 'validation').glob('*.jpg'))[0]
    torch2onnx(str(image), str(tmp_path), 'end2end.onnx',
               str(tmp_path / 'deploy.py'), str(model_cfg), ckpt,
               device='cpu')
    path = tmp_path / 'end2end.onnx'
    graph = onnx.load(str(path)).graph
    assert {n.domain for n in graph.node} <= {'', 'ai.onnx'}
    deploy_cfg, model_cfg = load_config(str(tmp_path / 'deploy.py'),
                                        str(model_cfg))
    task = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    backend = task.build_backend_model([str(path)])
    model = task.build_pytorch_model(ckpt)
    data, _ = task.create_input(str(image), [192, 192])
    batch = model.data_preprocessor(data, False)
    metas = [sample.metainfo for sample in batch['data_samples']]
    with torch.no_grad():
        expected = model.encode_decode(batch['inputs'], metas)
        got = backend.wrapper({'input': batch['inputs']})['output']
    assert got.shape == expected.shape == (1, 150, 192, 192)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    assert torch.equal(got.argmax(1), expected.argmax(1))


def test_dynamic_export_refuses_adaptive_pooling(tmp_path):
    """Pyramid pooling's windows are written for the example's size: a
    dynamic image size is refused (global pooling is fine)."""
    from mmact.openmmlab.export import export_onnx
    x = torch.randn(1, 3, 12, 12)
    pyramid = nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(3))
    with pytest.raises(ValueError, match=r'1 \(output 3\).*--static'):
        export_onnx(pyramid, x, str(tmp_path / 'p.onnx'))
    export_onnx(pyramid, x, str(tmp_path / 'p.onnx'), dynamic=False)
    export_onnx(nn.Sequential(nn.Conv2d(3, 4, 1), nn.AdaptiveAvgPool2d(1)),
                x, str(tmp_path / 'g.onnx'))
    assert _run(str(tmp_path / 'g.onnx'), torch.randn(2, 3, 7, 9)).shape \
        == (2, 4, 1, 1)


def test_deploy_tool_classification_torchscript_exporter(tmp_path):
    """The LayerAct CIFAR ResNet-20 through the TorchScript exporter, with
    the CIFAR pickles read by mmpretrain."""
    from mmact.datasets import make_cifar
    rows = _deploy('configs/resnet_cifar/resnet20-la-silu_8xb16_cifar10.py',
                   lambda root: make_cifar(root, train=6, val=2), tmp_path,
                   '--exporter', 'script')
    assert [r[1] for r in rows] == ['1x3x32x32', '1x3x32x32', '2x3x64x64']
    assert all(float(r[2]) < 1e-4 for r in rows)
