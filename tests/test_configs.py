"""Every shipped config builds, trains one iteration and evaluates on CPU,
on generated data read by the codebases' own datasets and pipelines."""
import glob
import re
import os
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import Runner

import mmact  # noqa: F401
from mmact.datasets import (make_ade20k, make_cifar, make_cityscapes,
                            make_coco, make_conditional_images,
                            make_image_folder, make_imagenet)
from mmact.openmmlab.checkpoint import unsafe_globals
from mmact.openmmlab.presets import cpu_preset

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(str(ROOT / 'configs' / '*' / '*.py'))
    if not any(f'/{skip}/' in p for skip in ('_base_', 'demo', 'deploy')))

# The classification reference activations: baselines and the LayerAct
# paper's comparison activations.
CLS_BASELINES = ('ReLU', 'SiLU', 'HardSiLU', 'Mish', 'HSwish', 'GELU')
SEG_BASELINES = ('GELU', 'ReLU')
# family (folder, or the dataset of a classification config) -> (generator,
# kwargs, baseline activation(s) that may remain, config overrides)
DATA = {
    'cifar10': (make_cifar, dict(train=6, val=2), CLS_BASELINES),
    'cifar100': (make_cifar, dict(train=4, val=2, num_classes=100),
                 CLS_BASELINES),
    'in1k': (make_imagenet, dict(train=4, val=2), CLS_BASELINES),
    # Segmentation: the DiTAC paper compares with GELU and ReLU.
    'convnext': (make_ade20k, dict(train=2, val=1, size=64), SEG_BASELINES),
    'swin': (make_ade20k, dict(train=2, val=1, size=64), SEG_BASELINES),
    'pspnet': (make_cityscapes, dict(train=2, val=1, size=(64, 128)),
               SEG_BASELINES),
    'retinanet': (make_coco, dict(train=2, val=1, size=96), 'ReLU'),
    'faster_rcnn': (make_coco, dict(train=2, val=1, size=96), 'ReLU'),
    'rtmdet': (make_coco, dict(train=2, val=1, size=96), 'SiLU'),
    'dcgan': (make_image_folder, dict(count=4, size=64), 'ReLU'),
    'biggan': (make_conditional_images, dict(count=4, size=32), 'ReLU'),
    'wgan_gp': (make_image_folder, dict(count=4, size=128), 'LReLU'),
    # 256 px StyleGAN2 takes ~80 s per CPU iteration: the same networks at
    # 32 px.
    'stylegan2': (make_image_folder, dict(count=4, size=32), 'LReLU',
                  {'model.generator.model.out_size': 32,
                   'model.discriminator.model.in_size': 32}),
}
# The gradient penalties the log must show (finite, non-zero).
PENALTIES = {'wgan_gp': 'loss_gp', 'stylegan2': 'loss_r1_gp'}


def family(config: str) -> str:
    """The DATA key: the dataset of a classification config (ConvNeXt
    configs exist for segmentation and classification), else the folder."""
    dataset = Path(config).stem.rsplit('_', 1)[-1]
    return dataset if dataset in ('cifar10', 'cifar100', 'in1k') else \
        config.split('/')[1]


@pytest.fixture(scope='module')
def data_roots(tmp_path_factory):
    roots = {}

    def get(key):
        make, kwargs = DATA[key][:2]
        data_key = (make, tuple(sorted(kwargs.items())))
        if data_key not in roots:
            roots[data_key] = make(str(tmp_path_factory.mktemp(key)),
                                   **kwargs)
        return roots[data_key]

    return get


def test_every_config_family_has_data():
    assert {family(c) for c in CONFIGS} == set(DATA)
    assert len(CONFIGS) >= 113


def _deeper_cifar_resnet(config: str) -> bool:
    """CIFAR ResNet-32/44/56 configs other than ResNet-56 LA-SiLU: the
    depth is their only difference from the ResNet-20 ones (slow tests)."""
    stem = Path(config).stem
    return config.split('/')[1] == 'resnet_cifar' and \
        not stem.startswith('resnet20-') and \
        not stem.startswith('resnet56-la-silu_')


@pytest.mark.parametrize('config', [
    pytest.param(c, marks=pytest.mark.slow) if _deeper_cifar_resnet(c) else c
    for c in CONFIGS])
def test_config_trains_and_evaluates_on_cpu(config, data_roots, tmp_path):
    folder, key = config.split('/')[1], family(config)
    cfg = Config.fromfile(str(ROOT / config))
    cfg.merge_from_dict(DATA[key][3] if len(DATA[key]) > 3 else {})
    cfg = cpu_preset(cfg, data_root=data_roots(key), size=64,
                     work_dir=str(tmp_path))
    runner = Runner.from_cfg(cfg)
    relu_calls = []
    for m in runner.model.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(lambda *a: relu_calls.append(1))
    runner.train()
    assert runner.iter >= 1
    if folder in PENALTIES:
        penalty = runner.message_hub.get_scalar(
            'train/' + PENALTIES[folder]).current()
        assert penalty != 0 and torch.isfinite(torch.tensor(penalty))
    assert (tmp_path / 'last_checkpoint').exists()
    # The checkpoint (message hub, optimizer, EMA state, numpy values)
    # needs nothing beyond mmact's allowlist: weights_only loads it.
    ckpt = (tmp_path / 'last_checkpoint').read_text().strip()
    assert unsafe_globals(ckpt) == []
    assert 'state_dict' in torch.load(ckpt, weights_only=True)
    baselines = DATA[key][2]
    baselines = (baselines, ) if isinstance(baselines, str) else baselines
    if any(part.endswith('-' + b.lower()) for b in baselines
           for part in Path(config).stem.split('_')):
        return
    kinds = {type(m).__name__ for m in runner.model.modules()}
    assert kinds & {'DiTAC', 'LDiTAC', 'LASiLU', 'LAHardSiLU', 'AconC',
                    'MetaAconC'}
    acons = sum(type(m).__name__ in ('AconC', 'MetaAconC')
                for m in runner.model.modules())
    if folder == 'resnet' and acons:
        assert acons == 16  # after each Bottleneck's 3x3 conv, nowhere else
    elif folder in ('pspnet', 'retinanet', 'faster_rcnn', 'resnet'):
        # The swap leaves no ReLU module that runs (RetinaHead builds one it
        # never calls; the swap leaves that one).
        assert not relu_calls
    if folder in ('convnext', 'rtmdet'):  # act_cfg reaches every one
        assert not kinds & {'GELU', 'SiLU'}
    if folder == 'mobilenet_v3':  # all but the squeeze-excitation gates'
        left = [n for n, m in runner.model.named_modules()
                if isinstance(m, (nn.ReLU, nn.Hardswish))]
        assert left and all('.se.' in n for n in left)


# The DiTAC supplement's segmentation protocols: (iterations, crop, total
# batch, optimizer, lr, weight decay, poly power).
PAPER = {
    'upernet': (160000, (512, 512), 16, 'AdamW', 6e-5, 0.01, 1.0),
    'pspnet': (40000, (512, 1024), 8, 'SGD', 0.01, 5e-4, 0.9),
}
PAPER_CONFIGS = [c for c in CONFIGS if c.endswith('_paper.py')
                 or c.split('/')[1] in ('swin', 'pspnet')]


@pytest.mark.parametrize('config', PAPER_CONFIGS)
def test_paper_schedules_are_the_ditac_supplements(config):
    cfg = Config.fromfile(str(ROOT / config))
    iters, crop, batch, optim, lr, decay, power = PAPER[
        'pspnet' if 'pspnet' in config else 'upernet']
    gpus = int(re.search(r'_(\d+)xb(\d+)', config).group(1))
    assert cfg.train_cfg.max_iters == iters
    assert tuple(cfg.crop_size) == crop
    assert gpus * cfg.train_dataloader.batch_size == batch
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == (
        optim, lr, decay)
    assert 'constructor' not in cfg.optim_wrapper  # no layer-wise decay
    poly = [s for s in cfg.param_scheduler if s.type == 'PolyLR']
    assert len(poly) == 1 and poly[0].power == power
    assert poly[0].end == iters


def test_every_segmentation_family_has_a_paper_schedule():
    families = {c.split('/')[1] for c in PAPER_CONFIGS}
    assert families == {'convnext', 'swin', 'pspnet'}
    paper = [c for c in PAPER_CONFIGS if 'convnext' in c]
    assert {re.search(r'tiny-([a-z-]+)_', c).group(1) for c in paper} == {
        'gelu', 'relu', 'ditac'}
