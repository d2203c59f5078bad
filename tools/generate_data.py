"""Generate a small dataset in a real dataset's on-disk layout.

    python tools/generate_data.py ade20k [--root data/ade/ADEChallengeData2016]
"""
import argparse

from mmact.datasets import make_ade20k, make_cityscapes

GENERATORS = {
    'ade20k': (make_ade20k, 'data/ade/ADEChallengeData2016'),
    'cityscapes': (make_cityscapes, 'data/cityscapes'),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dataset', choices=sorted(GENERATORS))
    parser.add_argument('--root', help='output folder (default: the '
                        "configs' data_root)")
    parser.add_argument('--train', type=int, default=16)
    parser.add_argument('--val', type=int, default=8)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    make, default_root = GENERATORS[args.dataset]
    size = args.size if args.dataset == 'ade20k' else (args.size,
                                                       2 * args.size)
    root = make(args.root or default_root, train=args.train, val=args.val,
                size=size, seed=args.seed)
    print(f'wrote {args.dataset} to {root}')


if __name__ == '__main__':
    main()
