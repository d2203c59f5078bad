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
    assert report.startswith('clean: ')
    for row in ('| fog |', '| glass_blur |', '| Weather |', '| Blur |',
                '| all |'):
        assert row in report
    assert (tmp_path / 'r' / 'report.csv').read_text().count('\n') == 4


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
