"""Evaluate a checkpoint under image corruptions (imagecorruptions: noise,
blur, weather, digital; severities 1-5) and write the LayerAct-style report.

    python tools/robustness.py CONFIG CHECKPOINT [--corruptions all|common|
        Noise Blur Weather Digital|NAMES...] [--severities 1 2 3 4 5]
        [--baseline BASE_CONFIG BASE_CHECKPOINT] [--out DIR] [--preset cpu]
        [--data-root DIR] [--cfg-options ...]

For each corruption and severity the test pipeline gets an
``ImageCorruption`` step right after image loading (first, for datasets
that hand images over in memory, as mmpretrain's CIFAR) and mmengine's
Runner evaluates the checkpoint with the config's own metric (mIoU,
accuracy, box AP). ``report.md`` / ``report.csv`` / ``report.png``: the
clean score, the score per corruption and severity, the mean per corruption
and per group; with ``--baseline`` (evaluated the same way) also the
baseline's means, the corruption error (CE, relative CE) per corruption and
the mean CE per group (see :mod:`mmact.robustness`).
"""
import argparse
import copy
import os.path as osp
from typing import List, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

import mmact  # noqa: F401  (registers activations and ImageCorruption)
from mmact.openmmlab.corruptions import CORRUPTIONS, GROUPS
from mmact.openmmlab.launch import (add_common_args, check_config,
                                    checkpoint_config, close_process_group)
from mmact.robustness import Evaluation, write_report

COMMON = tuple(c for c in CORRUPTIONS if c not in (
    'speckle_noise', 'gaussian_blur', 'spatter', 'saturate'))
# The reported metric of each codebase and its best value.
METRICS = {'mIoU': 100.0, 'accuracy/top1': 100.0, 'coco/bbox_mAP': 1.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--corruptions', nargs='+', default=['common'],
                        help='all, common (the 15 of ImageNet-C), group '
                        'names or corruption names')
    parser.add_argument('--severities', type=int, nargs='+',
                        default=[1, 2, 3, 4, 5])
    parser.add_argument('--baseline', nargs=2,
                        metavar=('CONFIG', 'CHECKPOINT'),
                        help='a reference model evaluated on the same '
                        'corruptions: adds CE / mCE relative to it')
    parser.add_argument('--out', help='report folder (default: work dir)')
    add_common_args(parser)
    return parser.parse_args()


def corruption_list(names: List[str]) -> List[str]:
    chosen = []
    for name in names:
        if name == 'all':
            chosen += CORRUPTIONS
        elif name == 'common':
            chosen += COMMON
        elif name in GROUPS:
            chosen += GROUPS[name]
        elif name in CORRUPTIONS:
            chosen.append(name)
        else:
            raise SystemExit(f'unknown corruption or group {name!r}; groups: '
                             f'{", ".join(GROUPS)}; names: '
                             f'{", ".join(CORRUPTIONS)}')
    return list(dict.fromkeys(chosen))


def with_corruption(cfg, corruption: str, severity: int):
    cfg = copy.deepcopy(cfg)
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset
    pipeline = list(dataset.pipeline)
    load = next((i for i, t in enumerate(pipeline)
                 if 'LoadImage' in str(t.get('type'))), None)
    # Without a loading step the dataset hands over arrays: mmpretrain's
    # CIFAR datasets, in RGB order.
    step = dict(type='ImageCorruption', corruption=corruption,
                severity=severity,
                channel_order='bgr' if load is not None else 'rgb')
    pipeline.insert(0 if load is None else load + 1, step)
    dataset.pipeline = pipeline
    return cfg


def evaluate(cfg, work_dir: str) -> Tuple[str, float]:
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    metrics = Runner.from_cfg(cfg).test()
    key = next((k for k in metrics for m in METRICS if k.endswith(m)), None)
    if key is None:
        raise SystemExit(f'no known metric among {sorted(metrics)}')
    return key, float(metrics[key])


def evaluate_all(cfg: Config, names: List[str], severities: List[int],
                 work_dir: str) -> Tuple[str, Evaluation]:
    metric, clean = evaluate(cfg, osp.join(work_dir, 'clean'))
    scores = {name: {s: evaluate(with_corruption(cfg, name, s),
                                 osp.join(work_dir, f'{name}_{s}'))[1]
                     for s in severities}
              for name in names}
    return metric, Evaluation(clean, scores)


def main() -> None:
    args = parse_args()
    names = corruption_list(args.corruptions)
    if not set(args.severities) <= {1, 2, 3, 4, 5}:
        raise SystemExit(f'severities must be in 1..5, got {args.severities}')
    cfg = checkpoint_config(args)
    check_config(cfg)
    metric, model = evaluate_all(cfg, names, args.severities, cfg.work_dir)
    baseline = None
    if args.baseline:
        base_cfg = checkpoint_config(args, *args.baseline)
        check_config(base_cfg)
        base_metric, baseline = evaluate_all(
            base_cfg, names, args.severities,
            osp.join(cfg.work_dir, 'baseline'))
        if base_metric != metric:
            raise SystemExit(f'the baseline reports {base_metric}, the model '
                             f'{metric}: they must share the metric')
    top = next(v for k, v in METRICS.items() if metric.endswith(k))
    print(write_report(args.out or cfg.work_dir, metric, model, GROUPS,
                       baseline, top))
    close_process_group()


if __name__ == '__main__':
    main()
