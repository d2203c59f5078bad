"""Train an OpenMMLab model (mmseg / mmdet / mmagic config) with mmact.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
        [--trust-checkpoint]

Checkpoints load with torch's weights_only check (mmengine's own objects
are allowlisted by ``import mmact``); ``--trust-checkpoint`` skips it for
the one file loaded, for files the user made or trusts.
"""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner, find_latest_checkpoint

import mmact  # noqa: F401  (registers the activations and hooks)
from mmact.openmmlab.launch import (add_common_args, check_config,
                                    check_load_from, close_process_group,
                                    load_config)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model with mmact')
    parser.add_argument('config', help='config file')
    parser.add_argument('--resume', nargs='?', const='auto', default=None,
                        help='resume from CKPT, or the latest checkpoint of '
                        'the work dir when no path is given')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision')
    add_common_args(parser)
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        # The latest checkpoint of the work dir, named here so that it is
        # checked like any other (None: nothing to resume, start afresh).
        cfg.resume = True
        cfg.load_from = find_latest_checkpoint(cfg.work_dir)
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    check_load_from(cfg, args.trust_checkpoint)
    check_config(cfg)
    return cfg


def main() -> None:
    Runner.from_cfg(build_config(parse_args())).train()
    close_process_group()


if __name__ == '__main__':
    main()
