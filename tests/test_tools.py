"""tools/*.py and tools/dist_*.sh on mmdet, mmagic and DDP (CPU, gloo)."""
import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmact.datasets import make_ade20k, make_coco, make_image_folder

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd, env=None, timeout=600):
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, timeout=timeout)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return run.stdout + run.stderr


def test_detection_train_test_show_dir(tmp_path):
    coco = make_coco(str(tmp_path / 'coco'), train=2, val=2, size=96)
    config = 'configs/retinanet/retinanet_r50-ditac_fpn_1x_coco.py'
    common = ['--preset', 'cpu', '--data-root', coco]
    log = _run(sys.executable, 'tools/train.py', config, '--work-dir',
               str(tmp_path / 'w'), *common)
    assert 'ActivationSwap: 57 activations replaced' in log
    assert 'left in place, never called by their owner: bbox_head.relu' in log
    ckpt = tmp_path / 'w' / 'epoch_1.pth'
    out = tmp_path / 'dets.pkl'
    log = _run(sys.executable, 'tools/test.py', config, str(ckpt),
               '--work-dir', str(tmp_path / 't'), '--out', str(out),
               '--show-dir', 'vis', *common, '--cfg-options',
               'model.model.test_cfg.score_thr=0.0')  # 1 epoch: low scores
    assert 'coco/bbox_mAP' in log and out.stat().st_size > 0
    assert len(glob.glob(str(tmp_path / 't' / '*' / 'vis' / '*.jpg'))) == 2


def test_generation_train_and_test(tmp_path):
    images = make_image_folder(str(tmp_path / 'imgs'), count=4, size=64)
    config = 'configs/dcgan/dcgan-ditac-gd_1xb128-300kiters_celeba-cropped-64.py'
    common = ['--preset', 'cpu', '--data-root', images]
    log = _run(sys.executable, 'tools/train.py', config, '--work-dir',
               str(tmp_path / 'w'), *common)
    assert 'swd/avg' in log
    log = _run(sys.executable, 'tools/test.py', config,
               str(tmp_path / 'w' / 'iter_2.pth'), '--work-dir',
               str(tmp_path / 't'), *common)
    assert 'swd/avg' in log


# The demo config with BN (no SyncBN on gloo) and every rank saving its
# parameters after training (tests/rank_state.py), trained 2 iterations.
RANK_STATE_CONFIG = (
    "_base_ = ['{root}/configs/demo/upernet_convnext_ditac_cpu-tiny.py']\n"
    "custom_imports = dict(imports=['mmpretrain.models', 'mmact', "
    "'rank_state'])\n"
    "custom_hooks = [dict(type='SaveRankStateHook')]\n"
    "model = dict(decode_head=dict(norm_cfg=dict(type='BN')),"
    " auxiliary_head=dict(norm_cfg=dict(type='BN')))\n")
TWO_ITERS = ['--cfg-options', 'train_cfg.max_iters=2',
             'train_cfg.val_interval=2', 'train_dataloader.batch_size=2',
             'default_hooks.checkpoint.interval=2']


def _rank_state_config(path: Path) -> Path:
    path.write_text(RANK_STATE_CONFIG.format(root=ROOT))
    return path


def _ranks_agree(work: Path) -> dict:
    """Rank 0's parameters, after checking rank 1 ended with the same."""
    r0 = torch.load(work / 'rank0.pth')
    r1 = torch.load(work / 'rank1.pth')
    assert r0.keys() == r1.keys()
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    return r0


def test_two_process_ddp_via_dist_script_keeps_ranks_identical(tmp_path):
    """torchrun, 2 CPU processes, gloo: both ranks end with the same
    parameters (DiTAC θ included), which moved from their start; the
    checkpoint then evaluates with dist_test.sh."""
    ade = make_ade20k(str(tmp_path / 'ade'), train=4, val=1, size=64)
    work = tmp_path / 'w'
    env = dict(PYTHON=sys.executable, PORT='29517', OMP_NUM_THREADS='1',
               PYTHONPATH=f'{ROOT / "tests"}{os.pathsep}'
               f'{os.environ.get("PYTHONPATH", "")}')
    config = _rank_state_config(tmp_path / 'ddp.py')
    _run('bash', 'tools/dist_train.sh', str(config), '2',
         '--work-dir', str(work), '--data-root', ade, *TWO_ITERS, env=env)
    r0 = _ranks_agree(work)
    thetas = [k for k in r0 if k.endswith('theta')]
    assert len(thetas) == 18
    assert any(r0[k].abs().sum() > 0 for k in thetas)  # θ trained from 0
    log = _run('bash', 'tools/dist_test.sh', str(config),
               str(work / 'iter_2.pth'), '2', '--work-dir',
               str(tmp_path / 't'), '--data-root', ade, env=env)
    assert 'mIoU' in log


# srun for one machine: N copies of the command with the SLURM_* variables
# a real srun sets (rank, task count, local id, node list).
FAKE_SRUN = r'''#!/usr/bin/env bash
ntasks=1
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    --ntasks=*) ntasks=${1#--ntasks=} ;;
    -p|-n|-N) shift ;;
  esac
  shift
done
pids=()
for ((i = 0; i < ntasks; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$ntasks \
    SLURM_NODELIST=node01 SLURM_JOB_ID=1 "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
'''
FAKE_SCONTROL = '#!/usr/bin/env bash\necho 127.0.0.1\n'


@pytest.mark.slow  # two-process training: the torchrun test above
def test_slurm_scripts_on_an_emulated_two_task_job(tmp_path):
    """tools/slurm_train.sh / slurm_test.sh under an srun that starts 2 CPU
    tasks here with the SLURM_* environment: the master address comes from
    scontrol as on a cluster, ranks train in step (gloo)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    ade = make_ade20k(str(tmp_path / 'ade'), train=4, val=1, size=64)
    work = tmp_path / 'w'
    env = dict(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
               PYTHON=sys.executable, GPUS='2', MASTER_PORT='29523',
               OMP_NUM_THREADS='1',
               PYTHONPATH=f'{ROOT / "tests"}{os.pathsep}'
               f'{os.environ.get("PYTHONPATH", "")}')
    env.pop('MASTER_ADDR', None)
    config = _rank_state_config(tmp_path / 'slurm.py')
    log = _run('bash', 'tools/slurm_train.sh', 'cpu', 'mmact', str(config),
               str(work), '--data-root', ade, *TWO_ITERS, env=env)
    assert 'Distributed launcher: slurm' in log and 'GPU number: 2' in log
    _ranks_agree(work)
    log = _run('bash', 'tools/slurm_test.sh', 'cpu', 'mmact', str(config),
               str(work / 'iter_2.pth'), '--work-dir', str(tmp_path / 't'),
               '--data-root', ade, env=env)
    assert 'mIoU' in log


def test_gpu_check_fails_fast_and_clearly_without_a_gpu():
    if torch.cuda.is_available():
        pytest.skip('a GPU is present: the check would run')
    run = subprocess.run(['bash', 'tools/gpu_check.sh'], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, 'PYTHON': sys.executable})
    assert run.returncode == 2
    assert 'no CUDA GPU visible' in run.stderr


def test_complexity_baselines_follow_the_local_base_chain():
    sys.path.insert(0, str(ROOT / 'tools'))
    try:
        from complexity import baseline_of
    finally:
        sys.path.pop(0)
    chains = {
        'configs/pspnet/pspnet_r50-d8-ditac_4xb2-40k_cityscapes-512x1024.py':
        'configs/pspnet/pspnet_r50-d8-relu_4xb2-40k_cityscapes-512x1024.py',
        'configs/wgan_gp/wgangp-ditac-gd_1xb64-160kiters_celeba-cropped-'
        '128x128.py': 'configs/wgan_gp/wgangp-lrelu_1xb64-160kiters_'
        'celeba-cropped-128x128.py',
    }
    for config, baseline in chains.items():
        assert baseline_of(str(ROOT / config)) == str(ROOT / baseline)
    assert baseline_of(str(ROOT / next(iter(chains.values())))) is None


def test_complexity_of_a_classifier_next_to_its_baseline(tmp_path):
    """mmpretrain's CIFAR ResNet-18 and the same network with every ReLU
    swapped for DiTAC: same FLOPs, θ's parameters more, every activation
    element a table lookup."""
    base = tmp_path / 'resnet18-relu.py'
    base.write_text("_base_ = ['mmpretrain::resnet/resnet18_8xb16_cifar10.py']"
                    "\ncustom_imports = dict(imports=['mmact'])\n"
                    "model = dict(_delete_=True, type='ActivationSwap', "
                    "model=_base_.model, act_cfg=dict(type='ReLU'), "
                    "rules=[dict(replace=['ReLU'])])\n")
    variant = tmp_path / 'resnet18-ditac.py'
    variant.write_text("_base_ = ['./resnet18-relu.py']\n"
                       "model = dict(act_cfg=dict(type='DiTAC'))\n")
    out = tmp_path / 'report.md'
    _run(sys.executable, 'tools/complexity.py', str(variant), '--shape', '32',
         '32', '--repeats', '2', '--out', str(out))
    rows = {line.split('|')[1].strip(): [c.strip() for c in
                                         line.split('|')[2:-1]]
            for line in out.read_text().splitlines()[4:]}
    assert rows['FLOPs (G)'][2] == '1.000'
    assert float(rows['FLOPs (G)'][0]) > 0.5  # 0.56 GFLOPs at 32 x 32
    params = [int(v) for v in rows['Parameters'][:2]]
    # 17 DiTACs (one per ReLU call) with 9 vertex velocities each.
    assert params[0] - params[1] == 17 * 9
    assert rows['DiTAC table lookups (M)'][0] == \
        rows['Activation elements (M)'][0] != '0'
    assert rows['DiTAC table lookups (M)'][1] == '0'
