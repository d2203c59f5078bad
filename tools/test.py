"""Evaluate a checkpoint of an OpenMMLab model (mmseg / mmdet / mmagic).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
        [--show-dir DIR] [--tta] [--cfg-options k=v ...] [--launcher ...]
"""
import argparse
import os
import os.path as osp

# See tools/train.py: the tools read mmengine checkpoints the user made.
os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmact  # noqa: E402,F401  (registers the activations and hooks)
from mmact.openmmlab.config_checks import check_config  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a model with mmact')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump raw predictions to this .pkl')
    parser.add_argument('--show-dir', help='save drawn predictions here')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (config tta_model)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
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
    runner = Runner.from_cfg(build_config(parse_args()))
    runner.test()


if __name__ == '__main__':
    main()
