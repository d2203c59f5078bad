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


# COCO's 80 category ids (1..90 with gaps); objects use the first few.
COCO_IDS = tuple(i for i in range(1, 91) if i not in (
    12, 26, 29, 30, 45, 66, 68, 69, 71, 83))


def _objects(size: int, num_classes: int, palette: np.ndarray,
             rng: np.random.Generator):
    """(BGR image, [(class 1.., polygon (k, 2) int)]) of separate shapes on
    a textured background."""
    image = np.empty((size, size, 3), np.float32)
    image[:] = rng.integers(0, 60, 3)
    image += rng.normal(0, 6, image.shape)
    objects = []
    for _ in range(rng.integers(1, 4)):
        cls = int(rng.integers(1, num_classes + 1))
        w, h = (int(v) for v in rng.integers(size // 6, size // 2, 2))
        x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
        if cls % 2:  # odd classes are boxes, even ones ellipses
            poly = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        else:
            poly = cv2.ellipse2Poly((x + w // 2, y + h // 2),
                                    (w // 2, h // 2), 0, 0, 360, 20)
        mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(mask, [poly.astype(np.int32)], 1)
        stripes = np.sin(np.arange(size) * (0.3 + 0.1 * cls))[None, :, None]
        image = np.where(mask[..., None] > 0,
                         palette[cls].astype(np.float32) + 25 * stripes,
                         image)
        objects.append((cls, poly))
    return np.clip(image, 0, 255).astype(np.uint8), objects


def _class_image(label: int, size: int, num_classes: int,
                 palette: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A BGR image of shapes that all take class ``label``'s colour."""
    image, _ = _objects(size, num_classes, palette, rng)
    mask = image.max(-1) > 70
    image[mask] = np.clip(palette[label + 1].astype(int) +
                          rng.integers(-15, 15, 3), 0, 255)
    return image


def make_coco(root: str, train: int = 16, val: int = 8, size: int = 128,
              num_classes: int = 8, seed: int = 0) -> str:
    """COCO 2017 layout: {train,val}2017/<12-digit id>.jpg and
    annotations/instances_{train,val}2017.json (boxes, polygons, areas; all
    80 categories with their real ids and names, as mmdet's CocoDataset and
    CocoMetric expect; objects of the first ``num_classes``). Returns
    ``root``."""
    import json

    from mmdet.datasets import CocoDataset
    names = CocoDataset.METAINFO['classes']
    if not 1 <= num_classes <= len(names):
        raise ValueError(f'num_classes must be in 1..{len(names)}, got '
                         f'{num_classes}')
    rng = np.random.default_rng(seed)
    palette = _palette(num_classes, rng)
    categories = [dict(id=i, name=n, supercategory='thing')
                  for i, n in zip(COCO_IDS, names)]
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    image_id = ann_id = 0
    for split, count in (('train2017', train), ('val2017', val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for _ in range(count):
            image_id += 1
            image, objects = _objects(size, num_classes, palette, rng)
            name = f'{image_id:012d}.jpg'
            cv2.imwrite(osp.join(root, split, name), image)
            images.append(dict(id=image_id, file_name=name, width=size,
                               height=size))
            for cls, poly in objects:
                ann_id += 1
                x0, y0 = poly.min(0).clip(0, size - 1)
                x1, y1 = poly.max(0).clip(0, size - 1)
                annotations.append(dict(
                    id=ann_id, image_id=image_id,
                    category_id=COCO_IDS[cls - 1],
                    bbox=[float(x0), float(y0), float(x1 - x0),
                          float(y1 - y0)],
                    area=float(cv2.contourArea(poly.astype(np.float32))),
                    segmentation=[poly.astype(float).ravel().tolist()],
                    iscrowd=0))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(dict(images=images, annotations=annotations,
                           categories=categories), f)
    return root


def make_image_folder(root: str, count: int = 32, size: int = 64,
                      num_classes: int = 4, seed: int = 0) -> str:
    """An unconditional image set: ``count`` PNG images in one folder (the
    layout of mmagic's ``BasicImageDataset`` with ``data_prefix=dict(gt=
    '')``, e.g. CelebA-cropped). Returns ``root``."""
    make_conditional_images(root, count, size, num_classes, seed,
                            ann_file=None)
    return root


def make_conditional_images(root: str, count: int = 32, size: int = 32,
                            num_classes: int = 4, seed: int = 0,
                            ann_file: str = 'train.txt') -> str:
    """A class-conditional image set: images/<class>_<i>.png whose shapes
    have class-dependent colour and texture, and ``ann_file`` with one
    ``<relative path> <label>`` line per image (mmagic's
    ``BasicConditionalDataset``; a CIFAR-10 stand-in without its md5-checked
    pickles). Returns ``root``."""
    rng = np.random.default_rng(seed)
    palette = _palette(num_classes, rng)
    folder = osp.join(root, 'images') if ann_file else root
    os.makedirs(folder, exist_ok=True)
    lines = []
    for i in range(count):
        label = i % num_classes
        image = _class_image(label, size, num_classes, palette, rng)
        name = f'{label}_{i:05d}.png'
        cv2.imwrite(osp.join(folder, name), image)
        lines.append(f'images/{name} {label}')
    if ann_file:
        with open(osp.join(root, ann_file), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def _cifar_batch(count: int, offset: int, size: int, num_classes: int,
                 palette: np.ndarray, rng: np.random.Generator):
    """(data (count, 3 * size * size) uint8 of RGB planes, labels)."""
    labels = [(offset + i) % num_classes for i in range(count)]
    data = np.stack([
        _class_image(label, size, num_classes, palette, rng)[..., ::-1]
        .transpose(2, 0, 1).reshape(-1) for label in labels])
    return data, labels


def make_cifar(root: str, train: int = 50, val: int = 20,
               num_classes: int = 10, seed: int = 0) -> str:
    """CIFAR-10 (``num_classes=10``: cifar-10-batches-py/data_batch_1..5,
    test_batch, batches.meta) or CIFAR-100 (``num_classes=100``:
    cifar-100-python/train, test, meta) python pickles, 32x32, with the
    real files' keys, plus ``md5sums.json`` listing their md5 (mmpretrain's
    ``CIFAR10`` / ``CIFAR100`` check the official sums; ``GeneratedCIFAR10``
    / ``GeneratedCIFAR100`` check these). Returns ``root``."""
    import hashlib
    import json
    import pickle
    if num_classes not in (10, 100):
        raise ValueError(f'num_classes must be 10 (CIFAR-10) or 100 '
                         f'(CIFAR-100), got {num_classes}')
    if train < 5 and num_classes == 10:
        raise ValueError(f'CIFAR-10 has 5 training batches: train must be '
                         f'at least 5, got {train}')
    rng = np.random.default_rng(seed)
    palette = _palette(num_classes, rng)
    names = [f'class_{i}' for i in range(num_classes)]
    if num_classes == 10:
        folder = osp.join(root, 'cifar-10-batches-py')
        bounds = np.linspace(0, train, 6).astype(int)
        files = {f'data_batch_{i + 1}': (bounds[i], bounds[i + 1] - bounds[i])
                 for i in range(5)}
        files['test_batch'] = (0, val)
        meta = ('batches.meta', dict(label_names=names, num_cases_per_batch=
                                     int(bounds[1]), num_vis=3072))
        label_key = 'labels'
    else:
        folder = osp.join(root, 'cifar-100-python')
        files = dict(train=(0, train), test=(0, val))
        meta = ('meta', dict(fine_label_names=names,
                             coarse_label_names=[f'super_{i}'
                                                 for i in range(20)]))
        label_key = 'fine_labels'
    os.makedirs(folder, exist_ok=True)
    contents = {meta[0]: meta[1]}
    for name, (offset, count) in files.items():
        data, labels = _cifar_batch(count, offset, 32, num_classes, palette,
                                    rng)
        entry = {'batch_label': name, label_key: labels, 'data': data,
                 'filenames': [f'{name}_{i:05d}.png' for i in range(count)]}
        if num_classes == 100:
            entry['coarse_labels'] = [label // 5 for label in labels]
        contents[name] = entry
    sums = {}
    for name, content in contents.items():
        blob = pickle.dumps(content, protocol=2)
        with open(osp.join(folder, name), 'wb') as f:
            f.write(blob)
        sums[name] = hashlib.md5(blob).hexdigest()
    with open(osp.join(folder, 'md5sums.json'), 'w') as f:
        json.dump(sums, f, indent=1)
    return root


def make_imagenet(root: str, train: int = 16, val: int = 8, size: int = 64,
                  num_classes: int = 4, seed: int = 0) -> str:
    """ImageNet in mmpretrain's layout: train/<wnid>/<wnid>_<i>.JPEG,
    val/ILSVRC2012_val_<8 digits>.JPEG and meta/{train,val}.txt with
    ``<relative path> <label>`` lines (labels 0..num_classes-1 of the
    1000). Returns ``root``."""
    rng = np.random.default_rng(seed)
    palette = _palette(num_classes, rng)
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split, count in (('train', train), ('val', val)):
        lines = []
        for i in range(count):
            label = i % num_classes
            wnid = f'n{label:08d}'
            if split == 'train':
                name = f'{wnid}/{wnid}_{i}.JPEG'
            else:
                name = f'ILSVRC2012_val_{i + 1:08d}.JPEG'
            path = osp.join(root, split, name)
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, _class_image(label, size, num_classes, palette,
                                           rng))
            lines.append(f'{name} {label}')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root
