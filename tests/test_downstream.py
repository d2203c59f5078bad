"""tools/train.py and tools/test.py on generated ADE20K-layout data."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmact.datasets import make_ade20k

ROOT = Path(__file__).resolve().parents[1]
CONFIG = 'configs/demo/upernet_convnext_ditac_cpu-tiny.py'


def _tool(name, *args, env=None):
    return subprocess.run([sys.executable, f'tools/{name}.py', *args],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    return make_ade20k(str(tmp_path_factory.mktemp('ade') / 'ADE'), train=4,
                       val=2, size=96)


def test_train_then_test_prints_miou(ade, tmp_path):
    env = dict(ADE20K_ROOT=ade)
    short = ['--cfg-options', 'train_cfg.max_iters=2',
             'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2']
    run = _tool('train', CONFIG, '--work-dir', str(tmp_path), *short,
                env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'mIoU' in run.stdout + run.stderr
    out = tmp_path / 'preds.pkl'
    test = _tool('test', CONFIG, str(tmp_path / 'iter_2.pth'), '--work-dir',
                 str(tmp_path), '--out', str(out), env=env)
    assert test.returncode == 0, test.stderr[-3000:]
    assert 'mIoU' in test.stdout + test.stderr and out.stat().st_size > 0


def test_bad_activation_name_fails_before_training(ade, tmp_path):
    run = _tool('train', CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                'model.backbone.act_cfg.type=DiTACC',
                env=dict(ADE20K_ROOT=ade))
    assert run.returncode != 0
    assert 'model.backbone.act_cfg' in run.stderr
    assert 'closest valid names: DiTAC' in run.stderr
    assert not list(tmp_path.glob('*/vis_data'))  # no Runner was built


def test_missing_data_root_fails_clearly(tmp_path):
    run = _tool('train', CONFIG, '--work-dir', str(tmp_path),
                env=dict(ADE20K_ROOT=str(tmp_path / 'nowhere')))
    assert run.returncode != 0
    assert 'does not exist' in run.stderr and 'generate_data' in run.stderr


def test_resume_continues_like_an_uninterrupted_run(ade, tmp_path):
    """Kill after 2 iterations, resume to 4: same parameters as 4 straight.

    Augmentation and dropout are switched off: mmengine re-seeds on resume
    but does not restore the RNG position, so random ops would differ."""
    import torch
    config = tmp_path / 'deterministic.py'
    config.write_text(
        f"_base_ = ['{ROOT / CONFIG}']\n"
        "train_dataloader = dict(batch_size=2, sampler=dict(shuffle=False),"
        " dataset=dict(pipeline=[dict(type='LoadImageFromFile'),"
        " dict(type='LoadAnnotations', reduce_zero_label=True),"
        " dict(type='Resize', scale=(64, 64), keep_ratio=False),"
        " dict(type='PackSegInputs')]))\n"
        "model = dict(decode_head=dict(dropout_ratio=0.0),"
        " auxiliary_head=dict(dropout_ratio=0.0))\n")
    env = dict(ADE20K_ROOT=ade)
    common = ['train_cfg.val_interval=100',
              'default_hooks.checkpoint.interval=2']
    full = _tool('train', str(config), '--work-dir', str(tmp_path / 'full'),
                 '--cfg-options', 'train_cfg.max_iters=4', *common, env=env)
    assert full.returncode == 0, full.stderr[-3000:]
    part = tmp_path / 'part'
    first = _tool('train', str(config), '--work-dir', str(part),
                  '--cfg-options', 'train_cfg.max_iters=2', *common, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = _tool('train', str(config), '--work-dir', str(part), '--resume',
                    '--cfg-options', 'train_cfg.max_iters=4', *common,
                    env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = torch.load(tmp_path / 'full' / 'iter_4.pth', weights_only=True)
    b = torch.load(part / 'iter_4.pth', weights_only=True)
    assert b['meta']['iter'] == 4
    for key, value in a['state_dict'].items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(b['state_dict'][key], value,
                                       rtol=1e-5, atol=1e-6, msg=key)


def test_bad_swap_rule_fails_before_building(tmp_path):
    run = _tool('train', 'configs/pspnet/pspnet_r50-d8-ditac_4xb2-40k_cityscapes-512x1024.py',
                '--work-dir', str(tmp_path), '--cfg-options',
                'model.rules.0.replace=ReLUU')
    assert run.returncode != 0
    assert ("model: ActivationSwap rules[0].replace: unknown activation "
            "'ReLUU'; closest valid names: ReLU") in run.stderr
    assert not list(tmp_path.glob('*/vis_data'))
