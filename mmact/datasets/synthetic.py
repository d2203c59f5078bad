"""Generate small datasets that the real OpenMMLab loaders read unchanged.

Content is learnable: each class has its own colour and texture, and
images are random layouts of class-coloured shapes, so a model trained for
a few iterations gets well above chance.
"""
import os
import os.path as osp
from typing import Tuple

import cv2
import numpy as np


def _palette(num_classes: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(30, 226, size=(num_classes + 1, 3), dtype=np.uint8)


def _scene(size: int, num_classes: int, palette: np.ndarray,
           rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """(BGR image, label map with 0 = 'other' and classes 1..num_classes)."""
    label = np.full((size, size), rng.integers(1, num_classes + 1), np.uint8)
    for _ in range(rng.integers(2, 6)):
        cls = int(rng.integers(1, num_classes + 1))
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        if rng.random() < 0.5:
            half = rng.integers(size // 8, size // 3, 2)
            cv2.rectangle(label, (centre[0] - half[0], centre[1] - half[1]),
                          (centre[0] + half[0], centre[1] + half[1]), cls,
                          -1)
        else:
            axes = tuple(int(v) for v in rng.integers(size // 10, size // 4,
                                                      2))
            cv2.ellipse(label, centre, axes, 0, 0, 360, cls, -1)
    other = rng.random((size, size)) < 0.02  # a sprinkle of 'other'
    label[other] = 0
    image = palette[label].astype(np.float32)
    stripes = np.sin(np.arange(size) * (0.2 + 0.05 * (label % 5)))
    image += 20 * stripes[..., None] + rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), label


def make_ade20k(root: str, train: int = 16, val: int = 8, size: int = 128,
                num_classes: int = 8, seed: int = 0) -> str:
    """ADEChallengeData2016 layout: images/{training,validation}/*.jpg and
    annotations/{training,validation}/*.png (uint8, 0 = other, classes
    1..num_classes of the 150). Returns ``root``."""
    rng = np.random.default_rng(seed)
    palette = _palette(num_classes, rng)
    for split, count in (('training', train), ('validation', val)):
        img_dir = osp.join(root, 'images', split)
        ann_dir = osp.join(root, 'annotations', split)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(count):
            image, label = _scene(size, num_classes, palette, rng)
            name = f'ADE_{split[:5]}_{i:08d}'
            cv2.imwrite(osp.join(img_dir, name + '.jpg'), image)
            cv2.imwrite(osp.join(ann_dir, name + '.png'), label)
    return root


def make_cityscapes(root: str, train: int = 8, val: int = 4,
                    size: Tuple[int, int] = (64, 128), num_classes: int = 8,
                    seed: int = 0) -> str:
    """Cityscapes layout: leftImg8bit/{train,val}/<city>/<city>_<seq>_<frame>
    _leftImg8bit.png and gtFine/{train,val}/<city>/..._gtFine_labelTrainIds
    .png (train ids 0..num_classes-1 of the 19, 255 = ignore). Returns
    ``root``."""
    rng = np.random.default_rng(seed)
    palette = _palette(num_classes, rng)
    height, width = size
    for split, count, city in (('train', train, 'aachen'),
                               ('val', val, 'frankfurt')):
        img_dir = osp.join(root, 'leftImg8bit', split, city)
        ann_dir = osp.join(root, 'gtFine', split, city)
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for i in range(count):
            image, label = _scene(max(size), num_classes, palette, rng)
            image, label = image[:height, :width], label[:height, :width]
            train_ids = np.where(label == 0, 255, label - 1).astype(np.uint8)
            stem = f'{city}_{i:06d}_000019'
            cv2.imwrite(osp.join(img_dir, f'{stem}_leftImg8bit.png'), image)
            cv2.imwrite(osp.join(ann_dir, f'{stem}_gtFine_labelTrainIds.png'),
                        train_ids)
    return root
