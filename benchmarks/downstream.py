"""Downstream-task benchmark: a matrix of configs x seeds, trained and
evaluated cell by cell, summarised as CSV / JSON / Markdown and plots.

The activation is part of the config (each family has one variant file per
activation), so ``--configs configs/pspnet/*.py`` compares every activation
of PSPNet. Each cell runs ``tools/train.py`` in its own process (peak memory
per cell, nothing shared between cells) and is skipped when its result
exists, so an interrupted matrix resumes where it stopped.

    # CPU preset on generated data (made once per family under OUT/data):
    python benchmarks/downstream.py --configs 'configs/convnext/*.py' \\
        --seeds 0 1 --iters 40 --out benchmarks/results/downstream_cpu
    # real data, full schedule, 8 GPUs per cell:
    python benchmarks/downstream.py --configs 'configs/swin/*.py' \\
        --preset none --data-root data/ade/ADEChallengeData2016 --gpus 8
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional

from results_io import write_csv

ROOT = Path(__file__).resolve().parents[1]
# The main metric of each task, as mmengine logs it.
METRICS = ('mIoU', 'coco/bbox_mAP', 'swd/avg', 'FID-Full-50k/fid',
           'IS-50k/is')
# Generated data per config family for the CPU preset: generator, size.
DATA = {
    'convnext': ('ade20k', 64), 'swin': ('ade20k', 64),
    'pspnet': ('cityscapes', 64), 'retinanet': ('coco', 96),
    'faster_rcnn': ('coco', 96), 'rtmdet': ('coco', 96),
    'dcgan': ('images', 64), 'biggan': ('conditional', 32),
}


def family(config: str) -> str:
    return Path(config).parent.name


def activation(config: str) -> str:
    """The variant part of a config name (``convnext-tiny-ditac_...`` ->
    ``ditac``)."""
    stem = Path(config).stem.split('_')
    part = stem[0] if family(config) in ('convnext', 'swin', 'dcgan',
                                         'biggan') else stem[1]
    prefix = {'convnext': 'convnext-tiny-', 'swin': 'swin-tiny-',
              'pspnet': 'r50-d8-', 'retinanet': 'r50-', 'faster_rcnn': 'r50-',
              'rtmdet': 'tiny-', 'dcgan': 'dcgan-', 'biggan': 'biggan-'}
    return part[len(prefix.get(family(config), '')):]


def generated_data(out: Path, fam: str, count: int) -> str:
    kind, size = DATA[fam]
    root = out / 'data' / f'{kind}_{size}'
    if not root.exists():
        subprocess.run([sys.executable, 'tools/generate_data.py', kind,
                        '--root', str(root), '--train', str(count), '--val',
                        str(max(2, count // 2)), '--size', str(size)],
                       cwd=ROOT, check=True)
    return str(root)


def read_scalars(work_dir: Path) -> Dict[str, float]:
    """Final metric, seconds per training iteration (median after the
    first), peak CUDA memory from mmengine's scalars.json."""
    files = sorted(glob.glob(str(work_dir / '*' / 'vis_data' /
                                 'scalars.json')))
    if not files:
        return {}
    times, memory, metrics = [], [], {}
    with open(files[-1]) as f:
        for line in f:
            record = json.loads(line)
            if 'loss' in record or any(k.startswith('loss') for k in record):
                times.append(record.get('time', float('nan')))
                if 'memory' in record:
                    memory.append(record['memory'])
            for key in METRICS:
                if key in record:
                    metrics[key] = record[key]
    out = dict(metrics)
    if len(times) > 1:
        out['s_per_iter'] = statistics.median(times[1:])
    elif times:
        out['s_per_iter'] = times[0]
    if memory:
        out['cuda_peak_mib'] = max(memory)
    return out


def run_cell(config: str, seed: int, args, cell: Path,
             data_root: Optional[str]) -> Dict:
    cmd = [config, '--work-dir', str(cell)]
    if args.preset != 'none':
        cmd += ['--preset', args.preset]
    if data_root:
        cmd += ['--data-root', data_root]
    options = [f'randomness.seed={seed}']
    if args.iters and args.preset == 'cpu':
        cmd += ['--preset-iters', str(args.iters)]
    elif args.iters:
        options += [f'train_cfg.max_iters={args.iters}',
                    f'train_cfg.val_interval={args.iters}',
                    f'default_hooks.checkpoint.interval={args.iters}']
    if args.epochs:
        options += [f'train_cfg.max_epochs={args.epochs}',
                    f'train_cfg.val_interval={args.epochs}']
    if 'logger' not in ' '.join(args.cfg_options):
        options.append('default_hooks.logger.interval=1')
    cmd += ['--cfg-options', *options, *args.cfg_options]
    if args.gpus > 1:
        cmd = ['bash', 'tools/dist_train.sh', cmd[0], str(args.gpus),
               *cmd[1:]]
    else:
        cmd = [sys.executable, 'tools/train.py', *cmd]
    cell.mkdir(parents=True, exist_ok=True)
    start = time.time()
    with open(cell / 'stdout.log', 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'cell {cell.name} failed; see {cell}/stdout.log')
    result = dict(config=config, family=family(config),
                  activation=activation(config), seed=seed,
                  wall_s=round(time.time() - start, 1),
                  # ru_maxrss is in KiB on Linux: the cell's peak host memory
                  host_peak_mib=round(usage.ru_maxrss / 1024, 1),
                  **read_scalars(cell))
    with open(cell / 'result.json', 'w') as f:
        json.dump(result, f, indent=1)
    return result


def summarise(results: List[Dict], out: Path) -> None:
    """results.{csv,json,md,png} from the cells' results."""
    keys = sorted({k for r in results for k in r})
    write_csv(results, out / 'results.csv', keys)
    with open(out / 'results.json', 'w') as f:
        json.dump(results, f, indent=1)
    groups = defaultdict(list)
    for r in results:
        groups[(r['family'], r['activation'])].append(r)
    lines = ['| family | activation | metric | mean ± std (seeds) | s / iter '
             '| peak host MiB |', '|---|---|---|---|---|---|']
    table = {}
    for (fam, act), rows in sorted(groups.items()):
        metric = next((m for m in METRICS if m in rows[0]), None)
        values = [r[metric] for r in rows if metric and metric in r]
        mean = statistics.mean(values) if values else float('nan')
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        speed = statistics.mean(r.get('s_per_iter', float('nan'))
                                for r in rows)
        memory = max(r['host_peak_mib'] for r in rows)
        table[(fam, act)] = (metric, mean, std, speed)
        lines.append(f'| {fam} | {act} | {metric} | {mean:.2f} ± {std:.2f} '
                     f'({len(values)}) | {speed:.3f} | {memory:.0f} |')
    (out / 'results.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    _plot(table, out)


def _plot(table, out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    families = sorted({fam for fam, _ in table})
    fig, axes = plt.subplots(2, len(families), squeeze=False,
                             figsize=(4 * len(families), 6))
    for col, fam in enumerate(families):
        acts = sorted(a for f, a in table if f == fam)
        stats = [table[(fam, a)] for a in acts]
        axes[0][col].bar(acts, [s[1] for s in stats],
                         yerr=[s[2] for s in stats], color='tab:blue')
        axes[0][col].set_title(f'{fam}: {stats[0][0]}')
        axes[1][col].bar(acts, [s[3] for s in stats], color='tab:orange')
        axes[1][col].set_title(f'{fam}: s / iteration')
        for ax in axes[:, col]:
            ax.tick_params(axis='x', rotation=45)
            ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'results.png', dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[7:]))
    parser.add_argument('--configs', nargs='+', required=True,
                        help='config files or globs (quote them)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--preset', choices=['cpu', 'none'], default='cpu')
    parser.add_argument('--data-root', help='dataset root for every config '
                        '(default with --preset cpu: generated per family)')
    parser.add_argument('--data-count', type=int, default=16,
                        help='training images of generated data')
    parser.add_argument('--iters', type=int, help='iteration-based '
                        'schedules: train this many iterations')
    parser.add_argument('--epochs', type=int, help='epoch-based schedules: '
                        'train this many epochs')
    parser.add_argument('--gpus', type=int, default=1,
                        help='GPUs per cell (> 1: tools/dist_train.sh)')
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='passed on to every cell')
    parser.add_argument('--out', default='benchmarks/results/downstream')
    args = parser.parse_args()
    configs = sorted({osp.relpath(p, ROOT) for c in args.configs
                      for p in glob.glob(str(ROOT / c)) or [c]})
    missing = [c for c in configs if not (ROOT / c).is_file()]
    if missing:
        parser.error(f'no such config: {", ".join(missing)}')
    out = (ROOT / args.out).resolve()
    failed = []
    for config in configs:
        data_root = args.data_root
        if data_root is None and args.preset == 'cpu':
            data_root = generated_data(out, family(config), args.data_count)
        for seed in args.seeds:
            cell = out / 'cells' / f'{Path(config).stem}_seed{seed}'
            if (cell / 'result.json').exists():
                print(f'done before: {cell.name}')
                continue
            print(f'running: {cell.name}', flush=True)
            try:
                run_cell(config, seed, args, cell, data_root)
            except RuntimeError as exc:  # keep going: the matrix is long
                print(exc, flush=True)
                failed.append(cell.name)
    # The summary covers every finished cell of OUT, from earlier runs too.
    summarise([json.loads(p.read_text())
               for p in sorted(out.glob('cells/*/result.json'))], out)
    if failed:
        sys.exit(f'{len(failed)} cells failed: {", ".join(failed)}')


if __name__ == '__main__':
    main()
