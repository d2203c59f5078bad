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
