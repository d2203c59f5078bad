"""ImageCorruption transform and tools/robustness.py."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mmact  # noqa: F401
from mmact.datasets import make_ade20k
from mmact.openmmlab.checkpoint import unsafe_globals
from mmact.openmmlab.corruptions import CORRUPTIONS, GROUPS, ImageCorruption
from mmact.robustness import Evaluation, corruption_errors, write_report

ROOT = Path(__file__).resolve().parents[1]


def _image(size=48):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)


@pytest.mark.parametrize('name', CORRUPTIONS)
def test_every_corruption_keeps_shape_and_dtype_and_changes_the_image(name):
    image = _image()
    out = ImageCorruption(name, 3).transform(dict(img=image.copy()))['img']
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - image).mean() > 1.0


def test_severity_orders_the_damage():
    image = np.full((48, 48, 3), 128, np.uint8)
    damage = [np.abs(ImageCorruption('gaussian_noise', s).transform(
        dict(img=image.copy()))['img'].astype(int) - 128).mean()
        for s in (1, 3, 5)]
    assert damage[0] < damage[1] < damage[2]


def test_groups_cover_the_nineteen_corruptions_once():
    assert sorted(CORRUPTIONS) == sorted(set(CORRUPTIONS))
    assert len(CORRUPTIONS) == 19 and set(GROUPS) == {
        'Noise', 'Blur', 'Weather', 'Digital'}


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown corruption 'fogg'; "
                       'closest: fog'):
        ImageCorruption('fogg')
    with pytest.raises(ValueError, match='severity must be 1..5, got 6'):
        ImageCorruption('fog', 6)


def test_robustness_tool_reports_per_corruption_and_group(tmp_path):
    ade = make_ade20k(str(tmp_path / 'ade'), train=2, val=1, size=64)
    env = {**os.environ, 'ADE20K_ROOT': ade}
    config = 'configs/demo/upernet_convnext_ditac_cpu-tiny.py'
    train = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir',
         str(tmp_path / 'w'), '--cfg-options', 'train_cfg.max_iters=1',
         'train_cfg.val_interval=10', 'default_hooks.checkpoint.interval=1',
         'train_dataloader.batch_size=2'],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-3000:]
    run = subprocess.run(
        [sys.executable, 'tools/robustness.py', config,
         str(tmp_path / 'w' / 'iter_1.pth'), '--corruptions', 'fog',
         'glass_blur', '--severities', '2', '--work-dir', str(tmp_path / 'r')],
        cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    report = (tmp_path / 'r' / 'report.md').read_text()
    assert report.startswith('mIoU clean: ')
    for row in ('| fog |', '| glass_blur |', '| Weather |', '| Blur |',
                '| all |'):
        assert row in report
    assert (tmp_path / 'r' / 'report.csv').read_text().count('\n') == 4


@pytest.mark.slow  # the tool on a classifier: the CIFAR LayerAct test
def test_robustness_of_a_swapped_classifier(tmp_path):
    """Classification: mmpretrain's CIFAR ResNet-18 (hard-coded ReLUs
    swapped for DiTAC) on generated labelled images read by mmpretrain's
    CustomDataset; the report uses accuracy/top1."""
    from mmact.datasets import make_conditional_images
    root = make_conditional_images(str(tmp_path / 'imgs'), count=8, size=32)
    config = tmp_path / 'cls.py'
    config.write_text(
        "_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']\n"
        "custom_imports = dict(imports=['mmact'], allow_failed_imports=False)\n"
        "model = dict(_delete_=True, type='ActivationSwap', "
        "model=_base_.model, act_cfg=dict(type='DiTAC'), "
        "rules=[dict(replace='ReLU')])\n"
        "pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]\n"
        f"data = dict(type='CustomDataset', data_root='{root}', "
        "ann_file='train.txt', data_prefix='', pipeline=pipeline)\n"
        "train_dataloader = dict(dataset=dict(_delete_=True, **data))\n"
        "val_dataloader = dict(dataset=dict(_delete_=True, **data))\n"
        "test_dataloader = val_dataloader\n")
    common = ['--preset', 'cpu', '--work-dir']
    train = subprocess.run(
        [sys.executable, 'tools/train.py', str(config), *common,
         str(tmp_path / 'w')], cwd=ROOT, capture_output=True, text=True)
    assert train.returncode == 0, train.stderr[-3000:]
    assert 'ReLU -> DiTAC' in train.stdout + train.stderr
    # An mmpretrain checkpoint needs nothing beyond mmact's allowlist.
    assert unsafe_globals(str(tmp_path / 'w' / 'epoch_1.pth')) == []
    run = subprocess.run(
        [sys.executable, 'tools/robustness.py', str(config),
         str(tmp_path / 'w' / 'epoch_1.pth'), '--corruptions', 'Noise',
         '--severities', '1', *common, str(tmp_path / 'r')],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    report = (tmp_path / 'r' / 'report.md').read_text()
    assert '| impulse_noise |' in report and '| Noise |' in report
    assert 'accuracy/top1' in run.stdout + run.stderr


def test_rgb_channel_order_corrupts_the_same_picture():
    bgr = _image()
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    for name in ('contrast', 'brightness'):  # deterministic corruptions
        out_bgr = ImageCorruption(name, 3)(dict(img=bgr))['img']
        out_rgb = ImageCorruption(name, 3, 'rgb')(dict(img=rgb))['img']
        np.testing.assert_array_equal(out_rgb, out_bgr[..., ::-1])
    with pytest.raises(ValueError, match="channel_order must be 'bgr' or "
                       "'rgb', got 'hsv'"):
        ImageCorruption('fog', 1, 'hsv')


def test_corruption_errors_by_hand(tmp_path):
    """CE and relative CE (Hendrycks & Dietterich) against numbers worked
    out by hand; the same in AP units (top = 1)."""
    model = Evaluation(90.0, {'fog': {1: 80.0, 2: 70.0},
                              'snow': {1: 88.0, 2: 86.0}})
    base = Evaluation(85.0, {'fog': {1: 60.0, 2: 50.0},
                             'snow': {1: 85.0, 2: 85.0}})
    errors = corruption_errors(model, base)
    # fog: errors 20 + 30 vs 40 + 50; increases 10 + 20 vs 25 + 35.
    assert errors['fog'] == pytest.approx((100 * 50 / 90, 100 * 30 / 60))
    # snow: the baseline does not degrade: relative CE undefined.
    assert errors['snow'][0] == pytest.approx(100 * 26 / 30)
    assert np.isnan(errors['snow'][1])
    scaled = corruption_errors(
        Evaluation(0.9, {k: {s: v / 100 for s, v in d.items()}
                         for k, d in model.scores.items()}),
        Evaluation(0.85, {k: {s: v / 100 for s, v in d.items()}
                          for k, d in base.scores.items()}), top=1.0)
    assert scaled['fog'] == pytest.approx(errors['fog'])
    with pytest.raises(ValueError, match=r"baseline lacks scores for "
                       r"\{'fog': \[2\]\}"):
        corruption_errors(model, Evaluation(85.0, {'fog': {1: 1.0},
                                                   'snow': {1: 1.0, 2: 1.0}}))
    text = write_report(str(tmp_path), 'accuracy/top1', model,
                        {'Weather': ('fog', 'snow', 'frost')}, base)
    # mCE over fog and snow; the relative mCE skips snow's undefined one.
    mce = (100 * 50 / 90 + 100 * 26 / 30) / 2
    assert f'| Weather | 81.00 | 2 | {mce:.2f} | 50.00 |' in text
    assert text.startswith('accuracy/top1 clean: 90.00 (baseline 85.00)')
    rows = (tmp_path / 'report.csv').read_text().splitlines()
    assert rows[0].endswith('mean,baseline_mean,CE,relative_CE')
    assert rows[2].startswith('fog,80.0,70.0,75.0,55.0,55.55')
    assert (tmp_path / 'report.png').stat().st_size > 5000


def test_cifar_robustness_of_layeract_against_its_baseline(tmp_path):
    """The LayerAct protocol on the shipped CIFAR-10 configs: ResNet-20
    LA-SiLU and the ReLU baseline trained on a generated CIFAR-10 (the
    pickles read by mmpretrain's loader), corrupted in memory (no loading
    step, RGB), CE / mCE against the baseline."""
    from mmact.datasets import make_cifar
    root = make_cifar(str(tmp_path / 'cifar'), train=6, val=4)
    configs = {name: f'configs/resnet_cifar/resnet20-{name}_8xb16_cifar10.py'
               for name in ('la-silu', 'relu')}
    common = ['--preset', 'cpu', '--data-root', root]
    for name, config in configs.items():
        train = subprocess.run(
            [sys.executable, 'tools/train.py', config, *common,
             '--work-dir', str(tmp_path / name)],
            cwd=ROOT, capture_output=True, text=True)
        assert train.returncode == 0, train.stderr[-3000:]
    run = subprocess.run(
        [sys.executable, 'tools/robustness.py', configs['la-silu'],
         str(tmp_path / 'la-silu' / 'epoch_1.pth'), '--corruptions',
         'gaussian_noise', 'fog', '--severities', '1', '5', '--baseline',
         configs['relu'], str(tmp_path / 'relu' / 'epoch_1.pth'), *common,
         '--work-dir', str(tmp_path / 'r')],
        cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    report = (tmp_path / 'r' / 'report.md').read_text()
    assert report.startswith('accuracy/top1 clean: ')
    assert '| fog |' in report and '| Noise |' in report
    assert ' mCE | relative mCE |' in report
    rows = (tmp_path / 'r' / 'report.csv').read_text().splitlines()
    assert len(rows) == 4 and rows[0].endswith('CE,relative_CE')
    assert (tmp_path / 'r' / 'report.png').exists()
    # The baseline ran under the same corruptions (its own work dirs).
    assert (tmp_path / 'r' / 'baseline' / 'fog_5').is_dir()
