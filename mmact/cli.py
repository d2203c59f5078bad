"""``python -m mmact``: list the activation names, plot activations, learned
activations of checkpoints and histograms of activation inputs."""
import argparse
import sys
from typing import List, Optional

import torch

from .openmmlab.checkpoint import TRUST_HELP
from .registry import list_activations
from .visualization import plot_activations, plot_checkpoint


def _list(args: argparse.Namespace) -> int:
    infos = list_activations(args.family)
    rows = [('name', 'canonical', 'family', 'learnable', 'source')]
    rows += [(i.name, i.canonical, i.family, i.learnable, i.source)
             for i in infos]
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for k, row in enumerate(rows):
        print('  '.join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        if k == 0:
            print('  '.join('-' * w for w in widths))
    print(f'{len(infos)} names')
    return 0


def _plot(args: argparse.Namespace) -> int:
    labels = plot_activations(args.names, args.out, (args.xmin, args.xmax))
    print(f'wrote {args.out} ({", ".join(labels)})')
    return 0


def _plot_ckpt(args: argparse.Namespace) -> int:
    families = plot_checkpoint(args.checkpoint, args.out,
                               trust=args.trust_checkpoint)
    print(f'wrote {args.out} (' + ', '.join(
        f'{len(layers)} {family} layers'
        for family, layers in families.items()) + ')')
    return 0


def _plot_hist(args: argparse.Namespace) -> int:
    """Input histograms of every activation over a few validation batches
    of a config's model (with a checkpoint, if given)."""
    import tempfile
    from itertools import islice

    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint

    from .openmmlab.checkpoint import checked
    from .openmmlab.presets import cpu_preset, set_data_root
    from .visualization import InputHistograms
    cfg = Config.fromfile(args.config)
    if args.preset == 'cpu':
        cfg = cpu_preset(cfg, data_root=args.data_root)
    elif args.data_root:
        set_data_root(cfg, args.data_root)
    cfg.work_dir = tempfile.mkdtemp(prefix='mmact_hist_')
    runner = Runner.from_cfg(cfg)
    if args.checkpoint:
        load_checkpoint(runner.model,
                        checked(args.checkpoint, args.trust_checkpoint),
                        map_location='cpu', strict=True)
    loader = runner.build_dataloader(cfg.val_dataloader)
    runner.model.eval()
    with torch.no_grad(), InputHistograms(runner.model) as hist:
        for batch in islice(loader, args.batches):
            runner.model.val_step(batch)
    layers = hist.plot(args.out)
    print(f'wrote {args.out} ({len(layers)} of {len(hist.counts)} '
          'activation layers)')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m mmact',
                                     description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    trust = dict(action='store_true', help=TRUST_HELP)
    p_list = sub.add_parser('list', help='every activation name for act_cfg')
    p_list.add_argument('--family', help='only this family')
    p_list.set_defaults(func=_list)
    p_plot = sub.add_parser(
        'plot', help='draw activations and their derivatives')
    p_plot.add_argument(
        'names', nargs='+',
        help="names, optionally with arguments: NAME:key=value,... "
        "(e.g. \"PDELU:t=1.5\")")
    p_plot.add_argument('--out', required=True, help='image file to write')
    p_plot.add_argument('--xmin', type=float, default=-4.0)
    p_plot.add_argument('--xmax', type=float, default=4.0)
    p_plot.set_defaults(func=_plot)
    p_ckpt = sub.add_parser(
        'plot-ckpt', help='draw the DiTAC / ACON-C / PDELU layers learned in '
        'a checkpoint')
    p_ckpt.add_argument('checkpoint')
    p_ckpt.add_argument('--out', required=True, help='image file to write')
    p_ckpt.add_argument('--trust-checkpoint', **trust)
    p_ckpt.set_defaults(func=_plot_ckpt)
    p_hist = sub.add_parser(
        'plot-hist', help='histograms of the inputs of every activation of '
        "a config's model over validation batches")
    p_hist.add_argument('config')
    p_hist.add_argument('checkpoint', nargs='?')
    p_hist.add_argument('--out', required=True, help='image file to write')
    p_hist.add_argument('--batches', type=int, default=4)
    p_hist.add_argument('--preset', choices=['cpu'])
    p_hist.add_argument('--data-root')
    p_hist.add_argument('--trust-checkpoint', **trust)
    p_hist.set_defaults(func=_plot_hist)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        print(f'error: {exc.args[0] if exc.args else exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
