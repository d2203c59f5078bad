"""Evaluate a checkpoint under image corruptions (imagecorruptions: noise,
blur, weather, digital; severities 1-5) and write the LayerAct-style report.

    python tools/robustness.py CONFIG CHECKPOINT [--corruptions all|common|
        Noise Blur Weather Digital|NAMES...] [--severities 1 2 3 4 5]
        [--out DIR] [--preset cpu] [--data-root DIR] [--cfg-options ...]

For each corruption and severity the test pipeline gets an
``ImageCorruption`` step right after image loading and mmengine's Runner
evaluates the checkpoint with the config's own metric (mIoU, accuracy, box
AP, ...). ``report.md`` / ``report.csv``: the clean score, the score per
corruption and severity, the mean per corruption and per group.
"""
import argparse
import copy
import csv
import os.path as osp
import statistics
from typing import Dict, List

from mmengine.runner import Runner

import mmact  # noqa: F401  (registers activations and ImageCorruption)
from mmact.openmmlab.corruptions import CORRUPTIONS, GROUPS
from mmact.openmmlab.launch import (add_common_args, check_config,
                                    check_load_from, close_process_group,
                                    load_config,
                                    require_fitting_checkpoint)

COMMON = tuple(c for c in CORRUPTIONS if c not in (
    'speckle_noise', 'gaussian_blur', 'spatter', 'saturate'))
METRICS = ('mIoU', 'accuracy/top1', 'coco/bbox_mAP')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--corruptions', nargs='+', default=['common'],
                        help='all, common (the 15 of ImageNet-C), group '
                        'names or corruption names')
    parser.add_argument('--severities', type=int, nargs='+',
                        default=[1, 2, 3, 4, 5])
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
    load = next(i for i, t in enumerate(pipeline)
                if 'LoadImage' in str(t.get('type')))
    pipeline.insert(load + 1, dict(type='ImageCorruption',
                                   corruption=corruption, severity=severity))
    dataset.pipeline = pipeline
    return cfg


def evaluate(cfg, work_dir: str) -> float:
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    metrics = Runner.from_cfg(cfg).test()
    key = next((k for k in metrics for m in METRICS if k.endswith(m)), None)
    if key is None:
        raise SystemExit(f'no known metric among {sorted(metrics)}')
    return float(metrics[key])


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    require_fitting_checkpoint(cfg)
    check_load_from(cfg, args.trust_checkpoint)
    check_config(cfg)
    names = corruption_list(args.corruptions)
    if not set(args.severities) <= {1, 2, 3, 4, 5}:
        raise SystemExit(f'severities must be in 1..5, got {args.severities}')
    out = args.out or cfg.work_dir
    clean = evaluate(cfg, osp.join(cfg.work_dir, 'clean'))
    scores: Dict[str, Dict[int, float]] = {}
    for name in names:
        scores[name] = {
            s: evaluate(with_corruption(cfg, name, s),
                        osp.join(cfg.work_dir, f'{name}_{s}'))
            for s in args.severities}
    write_report(out, clean, scores, args.severities)
    close_process_group()


def write_report(out: str, clean: float, scores, severities) -> None:
    import os
    os.makedirs(out, exist_ok=True)
    means = {n: statistics.mean(v.values()) for n, v in scores.items()}
    with open(osp.join(out, 'report.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['corruption', *severities, 'mean'])
        writer.writerow(['clean', *[clean] * len(severities), clean])
        for name, values in scores.items():
            writer.writerow([name, *[values[s] for s in severities],
                             means[name]])
    lines = [f'clean: {clean:.2f}', '',
             '| corruption | ' + ' | '.join(f's{s}' for s in severities) +
             ' | mean |', '|---' * (len(severities) + 2) + '|']
    for name, values in scores.items():
        lines.append(f'| {name} | ' + ' | '.join(
            f'{values[s]:.2f}' for s in severities) + f' | {means[name]:.2f} |')
    lines += ['', '| group | mean | corruptions |', '|---|---|---|']
    for group, members in GROUPS.items():
        present = [m for m in members if m in means]
        if present:
            lines.append(f'| {group} | '
                         f'{statistics.mean(means[m] for m in present):.2f} '
                         f'| {len(present)} |')
    lines.append(f'| all | {statistics.mean(means.values()):.2f} | '
                 f'{len(means)} |')
    text = '\n'.join(lines) + '\n'
    with open(osp.join(out, 'report.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
