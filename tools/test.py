"""Evaluate a checkpoint of an OpenMMLab model (mmseg / mmdet / mmagic).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher ...]
        [--trust-checkpoint]

The checkpoint loads with torch's weights_only check and must fit the
model (missing keys fail with their names).
"""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner

import mmact  # noqa: F401  (registers the activations and hooks)
from mmact.openmmlab.launch import (add_common_args, check_config,
                                    checkpoint_config, close_process_group)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a model with mmact')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump raw predictions to this .pkl')
    parser.add_argument('--show-dir', help='save drawn predictions here')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (config tta_model)')
    add_common_args(parser)
    return parser.parse_args()


def build_config(args: argparse.Namespace) -> Config:
    cfg = checkpoint_config(args)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        evaluators = cfg.test_evaluator if isinstance(
            cfg.test_evaluator, list) else [cfg.test_evaluator]
        cfg.test_evaluator = [*evaluators,
                              dict(type='DumpResults', out_file_path=args.out)]
    if args.show_dir:
        hook = cfg.default_hooks.get('visualization')
        if hook is None:
            raise ValueError('--show-dir needs default_hooks.visualization')
        hook['draw'] = True
        if 'Det' in hook['type']:
            hook['test_out_dir'] = args.show_dir
        else:
            cfg.visualizer['save_dir'] = args.show_dir
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError('--tta needs tta_model and tta_pipeline in the '
                             'config')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    check_config(cfg)
    return cfg


def main() -> None:
    Runner.from_cfg(build_config(parse_args())).test()
    close_process_group()


if __name__ == '__main__':
    main()
