"""What tools/train.py and tools/test.py share: options and config set-up."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from .config_checks import check_config


def allow_mmengine_checkpoints() -> None:
    """Let torch >= 2.6 load mmengine 0.10 checkpoints (they hold numpy
    objects and a message hub that the weights_only loader refuses). The
    tools only read checkpoints the user made or chose."""
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--work-dir, --cfg-options, --launcher, --local-rank."""
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """The config with CLI overrides, launcher and work dir applied."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


__all__ = ['allow_mmengine_checkpoints', 'add_common_args', 'load_config',
           'check_config']
