"""What tools/train.py and tools/test.py share: options and config set-up."""
import argparse
import gc
import os
import os.path as osp
import subprocess
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction

from .checkpoint import TRUST_HELP, checked
from .config_checks import check_config
from .presets import cpu_preset, set_data_root


def _slurm_environment() -> None:
    """RANK / WORLD_SIZE / LOCAL_RANK / MASTER_* from the SLURM_* variables,
    as mmengine's slurm launcher sets them (the first host of the job is the
    master unless MASTER_ADDR is given)."""
    env = os.environ
    if 'MASTER_ADDR' not in env:
        hosts = subprocess.run(
            ['scontrol', 'show', 'hostname', env['SLURM_NODELIST']],
            capture_output=True, text=True, check=True).stdout.split()
        env['MASTER_ADDR'] = hosts[0]
    env.setdefault('MASTER_PORT', '29500')
    env['RANK'] = env['SLURM_PROCID']
    env['WORLD_SIZE'] = env['SLURM_NTASKS']
    env['LOCAL_RANK'] = env.get('SLURM_LOCALID', '0')


def _init_cpu_process_group(cfg: Config) -> None:
    """torchrun or srun without GPUs: mmengine 0.10.7's init_dist always
    selects a CUDA device and its DDP wrapper passes a CUDA device id, so
    the tools start the gloo group themselves (the Runner finds it
    initialised) and wrap CPU modules without device ids."""
    if cfg.launcher == 'slurm':
        _slurm_environment()
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = \
        'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group('gloo')


def close_process_group() -> None:
    """End a distributed run with every rank in step: barrier, then destroy
    the process group.

    A rank that exits with its gloo group still open can abort in the
    group's threads ('terminate called without an active exception') while
    a peer is still talking to it. Call it once the Runner is released: the
    collection drops its DDP wrapper, and destroying a group under a live
    Reducer can hang.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        gc.collect()
        dist.destroy_process_group()


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--work-dir, --cfg-options, --launcher, --local-rank."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--preset', choices=['cpu'],
                        help='cpu: the same config CPU-sized (small images, '
                        'a 2-iteration / 1-epoch schedule, no pretrained '
                        'downloads, fp32), see mmact.openmmlab.presets')
    parser.add_argument('--preset-iters', type=int, default=2,
                        help='with --preset cpu: training iterations of '
                        'iteration-based schedules (default 2)')
    parser.add_argument('--data-root', help='dataset root replacing the '
                        "config's data_root everywhere (datasets, metric "
                        'annotation files)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help=TRUST_HELP)


def load_config(args: argparse.Namespace) -> Config:
    """The config with CLI overrides, launcher and work dir applied."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.preset == 'cpu':
        cfg = cpu_preset(cfg, data_root=args.data_root,
                         iters=args.preset_iters)
    elif args.data_root:
        set_data_root(cfg, args.data_root)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.launcher in ('pytorch', 'slurm') and \
            not torch.cuda.is_available():
        _init_cpu_process_group(cfg)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def check_load_from(cfg: Config, trust: bool) -> None:
    """Check the checkpoint the run will load (``cfg.load_from``) before
    anything is built; with ``trust`` load it through ``trusted://``."""
    if cfg.get('load_from'):
        cfg.load_from = checked(cfg.load_from, trust)


def checkpoint_config(args: argparse.Namespace,
                      config: Optional[str] = None,
                      checkpoint: Optional[str] = None) -> Config:
    """The config (``args.config``, or ``config``) under the command line's
    options, loading a trained checkpoint (``args.checkpoint``, or
    ``checkpoint``) to evaluate: checked before anything is built and
    refused if it does not fit the model. Run :func:`check_config` on the
    result once the caller's own changes are in."""
    if config is not None:
        args = argparse.Namespace(**{**vars(args), 'config': config})
    cfg = load_config(args)
    cfg.load_from = checkpoint or args.checkpoint
    require_fitting_checkpoint(cfg)
    check_load_from(cfg, args.trust_checkpoint)
    return cfg


def require_fitting_checkpoint(cfg: Config) -> None:
    """Fail on a checkpoint whose keys do not fit the model (mmengine
    loads non-strictly: evaluation would use random weights wherever they
    do not), see :class:`~mmact.openmmlab.checkpoint.CheckpointFitHook`."""
    cfg.custom_hooks = [*cfg.get('custom_hooks', []),
                        dict(type='CheckpointFitHook')]


__all__ = ['add_common_args', 'load_config', 'check_config',
           'check_load_from', 'checkpoint_config',
           'require_fitting_checkpoint', 'close_process_group']
