"""Generate a small dataset in a real dataset's on-disk layout.

    python tools/generate_data.py {ade20k,cityscapes,coco,images,conditional,
                                   cifar10,cifar100,imagenet}
        [--root DIR] [--train N] [--val N] [--size PX] [--seed S]

The default roots are the ones mmact's configs read, so a generated set and
the real dataset are interchangeable by path.
"""
import argparse
import functools

from mmact.datasets import (make_ade20k, make_cifar, make_cityscapes,
                            make_coco, make_conditional_images,
                            make_image_folder, make_imagenet)

# name: (generator, default root, default image size, what it stands for)
GENERATORS = {
    'ade20k': (make_ade20k, 'data/ade/ADEChallengeData2016', 128,
               'ADE20K (mmseg ADE20KDataset)'),
    'cityscapes': (make_cityscapes, 'data/cityscapes', 64,
                   'Cityscapes (mmseg CityscapesDataset), H x 2H'),
    'coco': (make_coco, 'data/coco', 128, 'COCO 2017 instances (mmdet)'),
    'images': (make_image_folder,
               'data/celeba-cropped/cropped_images_aligned_png', 64,
               'an unconditional image folder (mmagic BasicImageDataset)'),
    'conditional': (make_conditional_images, 'data/cifar10_png', 32,
                    'class-labelled images + train.txt (mmagic '
                    'BasicConditionalDataset)'),
    'cifar10': (make_cifar, 'data/cifar10', 32,
                'CIFAR-10 python pickles (mmpretrain CIFAR10)'),
    'cifar100': (functools.partial(make_cifar, num_classes=100),
                 'data/cifar100', 32,
                 'CIFAR-100 python pickles (mmpretrain CIFAR100)'),
    'imagenet': (make_imagenet, 'data/imagenet', 64,
                 'ImageNet folders + meta/{train,val}.txt (mmpretrain '
                 'ImageNet)'),
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog='; '.join(f'{k}: {v[3]} -> {v[1]}'
                         for k, v in GENERATORS.items()))
    parser.add_argument('dataset', choices=list(GENERATORS))
    parser.add_argument('--root', help='output folder (default: the '
                        "configs' data_root)")
    parser.add_argument('--train', type=int, default=16,
                        help='training images (all images for the image '
                        'sets)')
    parser.add_argument('--val', type=int, default=8)
    parser.add_argument('--size', type=int, help='image size in pixels')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    make, default_root, default_size, _ = GENERATORS[args.dataset]
    root = args.root or default_root
    size = args.size or default_size
    if args.dataset in ('images', 'conditional'):
        make(root, count=args.train, size=size, seed=args.seed)
    elif args.dataset.startswith('cifar'):  # always 32x32
        make(root, train=args.train, val=args.val, seed=args.seed)
    else:
        make(root, train=args.train, val=args.val,
             size=(size, 2 * size) if args.dataset == 'cityscapes' else size,
             seed=args.seed)
    print(f'wrote {args.dataset} to {root}')


if __name__ == '__main__':
    main()
