"""Checkpoints load with torch's weights_only check everywhere: mmact's
tools, mmengine's Runner (the downstream projects' tools) and the CLI; a
code payload never runs; a checkpoint must fit the model it is tested on."""
import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.runner import Runner
from torch.utils.data import DataLoader
from toy import ToyClassifier, toy_data

import mmact  # noqa: F401  (allowlists mmengine's checkpoint globals)
from mmact.datasets import make_ade20k
from mmact.openmmlab.checkpoint import (SAFE_GLOBALS, load_checkpoint_file,
                                        mismatched_keys, unsafe_globals)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = 'configs/demo/upernet_convnext_ditac_cpu-tiny.py'
SHORT = ['--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2']


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def _payload_checkpoint(tmp_path: Path) -> Path:
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {'x': Payload(marker)}}, path)
    return path


def _marker(tmp_path: Path) -> Path:
    return tmp_path / 'payload_ran'


def _run(*args, env=None):
    return subprocess.run([sys.executable, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})


def test_the_payload_is_real(tmp_path):
    """The crafted file does run code when loaded without the check."""
    path = _payload_checkpoint(tmp_path)
    assert 'posix.system' in unsafe_globals(str(path))
    torch.load(path, weights_only=False)
    assert _marker(tmp_path).exists()


@pytest.mark.parametrize('argv', [
    ['tools/test.py', CONFIG, '{ckpt}'],
    ['tools/train.py', CONFIG, '--resume', '{ckpt}'],
    ['tools/train.py', CONFIG, '--cfg-options', 'load_from={ckpt}'],
    ['-m', 'mmact', 'plot-ckpt', '{ckpt}', '--out', '{tmp}/p.png'],
], ids=['test', 'resume', 'load_from', 'plot-ckpt'])
def test_tools_refuse_a_payload_and_it_never_runs(tmp_path, argv):
    ckpt = _payload_checkpoint(tmp_path)
    args = [a.format(ckpt=ckpt, tmp=tmp_path) for a in argv]
    run = _run(*args, '--work-dir', str(tmp_path / 'w')) if args[0].startswith(
        'tools') else _run(*args)
    assert run.returncode != 0
    assert 'posix.system' in run.stderr
    assert '--trust-checkpoint' in run.stderr
    assert not _marker(tmp_path).exists()


def _toy_runner(work_dir, **kwargs):
    return Runner(
        model=ToyClassifier(dict(type='DiTAC', init='prior')),
        work_dir=str(work_dir),
        train_dataloader=DataLoader(toy_data(), batch_size=8),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=2, by_epoch=False)),
        default_scope='mmengine', randomness=dict(seed=0), **kwargs)


def test_mmengine_runner_loads_safely_and_refuses_a_payload(tmp_path):
    """What the downstream projects' own tools do: Runner with resume /
    load_from, with torch's default (weights_only) loading."""
    _toy_runner(tmp_path / 'a').train()
    ckpt = tmp_path / 'a' / 'iter_2.pth'
    assert unsafe_globals(str(ckpt)) == []
    # resume: the iteration count and every parameter come back.
    runner = _toy_runner(tmp_path / 'b', load_from=str(ckpt), resume=True)
    runner.load_or_resume()
    assert runner.iter == 2
    state = torch.load(ckpt, weights_only=True)['state_dict']
    for name, value in runner.model.state_dict().items():
        assert torch.equal(value, state[name]), name
    evil = _payload_checkpoint(tmp_path)
    for kwargs in (dict(load_from=str(evil)),
                   dict(load_from=str(evil), resume=True)):
        runner = _toy_runner(tmp_path / 'c', **kwargs)
        with pytest.raises(Exception, match='posix.system'):
            runner.load_or_resume()
    assert not _marker(tmp_path).exists()


def test_trusted_scheme_loads_an_unknown_global_only_when_asked(tmp_path):
    _toy_runner(tmp_path / 'a').train()
    state = torch.load(tmp_path / 'a' / 'iter_2.pth', weights_only=True)
    state['meta']['made'] = datetime.date(2026, 12, 2)
    path = tmp_path / 'dated.pth'
    torch.save(state, path)
    with pytest.raises(ValueError, match='datetime.date'):
        load_checkpoint_file(str(path))
    assert load_checkpoint_file(str(path), trust=True)['meta']['made'] == \
        datetime.date(2026, 12, 2)
    runner = _toy_runner(tmp_path / 'b', load_from=f'trusted://{path}')
    runner.load_or_resume()  # mmengine's loader through the scheme


def test_allowlist_is_exactly_what_mmengine_writes(tmp_path):
    """A checkpoint written by a process without mmact holds HistoryBuffer
    methods as builtins.getattr calls (not allowlistable); with mmact
    imported the same Runner writes only allowlisted globals."""
    code = (
        'import sys, torch\n'
        'sys.path.insert(0, "tests")\n'
        'from toy import ToyClassifier, toy_data\n'
        'from mmengine.runner import Runner\n'
        'from torch.utils.data import DataLoader\n'
        f'Runner(model=ToyClassifier(dict(type="ReLU")), work_dir={str(tmp_path)!r},'
        ' train_dataloader=DataLoader(toy_data(), batch_size=8),'
        ' optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.1)),'
        ' train_cfg=dict(by_epoch=False, max_iters=1),'
        ' default_hooks=dict(checkpoint=dict(type="CheckpointHook",'
        ' interval=1, by_epoch=False)),'
        ' default_scope="mmengine").train()\n'
        f'print(torch.serialization.get_unsafe_globals_in_checkpoint('
        f'{str(tmp_path / "iter_1.pth")!r}))\n')
    run = _run('-c', code + 'assert "mmact" not in sys.modules\n')
    assert run.returncode == 0, run.stderr[-2000:]
    raw = set(eval(run.stdout.strip().splitlines()[-1]))
    names = {f'{g.__module__}.{g.__name__}' for g in SAFE_GLOBALS}
    assert 'builtins.getattr' in raw
    assert raw - {'builtins.getattr'} <= names
    with pytest.raises(ValueError, match='builtins.getattr'):
        load_checkpoint_file(str(tmp_path / 'iter_1.pth'))


def test_mismatched_keys_after_module_prefix():
    keys = mismatched_keys(['a.w', 'b.theta'], ['module.a.w', 'c.w'])
    assert keys == dict(missing=['b.theta'], unexpected=['c.w'])


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The demo config trained 2 iterations by tools/train.py."""
    tmp = tmp_path_factory.mktemp('trained')
    ade = make_ade20k(str(tmp / 'ade'), train=2, val=1, size=64)
    run = _run('tools/train.py', CONFIG, '--work-dir', str(tmp / 'w'),
               *SHORT, env=dict(ADE20K_ROOT=ade))
    assert run.returncode == 0, run.stderr[-3000:]
    return ade, tmp / 'w' / 'iter_2.pth'


def test_test_tool_refuses_a_checkpoint_that_does_not_fit(trained,
                                                          tmp_path):
    ade, ckpt = trained
    state = torch.load(ckpt, weights_only=True)
    state['state_dict'] = {k: v for k, v in state['state_dict'].items()
                           if not k.endswith('theta')}
    partial = tmp_path / 'no_theta.pth'
    torch.save(state, partial)
    run = _run('tools/test.py', CONFIG, str(partial), '--work-dir',
               str(tmp_path / 't'), env=dict(ADE20K_ROOT=ade))
    assert run.returncode != 0
    assert 'does not fit' in run.stderr
    assert 'backbone.stages.0.0.act.theta' in run.stderr
    assert 'aAcc:' not in run.stdout + run.stderr  # nothing evaluated


def test_upstream_mmseg_train_resumes_with_weights_only(trained, tmp_path):
    """mmsegmentation's own tools/train.py (shipped in its wheel) resumes
    an mmact checkpoint: the config's custom_imports import mmact."""
    import mmseg
    ade, ckpt = trained
    tool = Path(mmseg.__file__).parent / '.mim' / 'tools' / 'train.py'
    run = _run(str(tool), CONFIG, '--work-dir', str(tmp_path), '--resume',
               '--cfg-options', f'load_from={ckpt}', 'train_cfg.max_iters=3',
               'train_cfg.val_interval=100',
               'default_hooks.checkpoint.interval=3',
               env=dict(ADE20K_ROOT=ade))
    assert run.returncode == 0, run.stderr[-3000:]
    resumed = torch.load(tmp_path / 'iter_3.pth', weights_only=True)
    assert resumed['meta']['iter'] == 3
