"""``python -m mmact``: list the activation names, plot activations."""
import argparse
import sys
from typing import List, Optional

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
    families = plot_checkpoint(args.checkpoint, args.out)
    print(f'wrote {args.out} (' + ', '.join(
        f'{len(layers)} {family} layers'
        for family, layers in families.items()) + ')')
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m mmact',
                                     description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
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
    p_ckpt.set_defaults(func=_plot_ckpt)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError) as exc:
        print(f'error: {exc.args[0] if exc.args else exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
