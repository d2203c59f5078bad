"""Generated datasets are read by the real OpenMMLab dataset classes."""
import numpy as np
import pytest
from mmseg.datasets import ADE20KDataset, CityscapesDataset

from mmact.datasets import (make_ade20k, make_cifar, make_cityscapes,
                            make_coco, make_conditional_images,
                            make_image_folder, make_imagenet)

# Scoped names: another test may leave a default scope (mmagic's
# LoadImageFromFile needs a key).
PIPELINE = [dict(type='mmcv.LoadImageFromFile'),
            dict(type='mmseg.LoadAnnotations')]


@pytest.mark.parametrize('make,cls,prefix,size', [
    (make_ade20k, ADE20KDataset,
     dict(img_path='images/training', seg_map_path='annotations/training'),
     (96, 96)),
    (make_cityscapes, CityscapesDataset,
     dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
     (48, 96)),
])
def test_real_loaders_read_generated_data(tmp_path, make, cls, prefix, size):
    root = make(str(tmp_path / 'data'), train=3, val=2,
                size=size if make is make_cityscapes else size[0])
    dataset = cls(data_root=root, data_prefix=prefix, pipeline=PIPELINE)
    assert len(dataset) == 3
    sample = dataset[0]
    assert sample['img'].shape[:2] == size
    # Train ids 0..7 and 255 = ignore (ADE20K: 'other' -> 255 and k -> k-1
    # by the dataset's reduce_zero_label, as for the real data).
    labels = set(np.unique(sample['gt_seg_map']).tolist())
    assert labels <= set(range(8)) | {255}
    assert len(labels - {255}) >= 2  # several classes: learnable content


def test_mmdet_coco_dataset_reads_generated_coco(tmp_path):
    from mmdet.datasets import CocoDataset
    root = make_coco(str(tmp_path / 'coco'), train=3, val=1, size=64)
    dataset = CocoDataset(
        data_root=root, ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=[dict(type='mmcv.LoadImageFromFile'),
                  dict(type='mmdet.LoadAnnotations', with_bbox=True)])
    assert len(dataset) == 3
    sample = dataset[0]
    assert sample['img'].shape == (64, 64, 3)
    boxes, labels = sample['gt_bboxes'].tensor, sample['gt_bboxes_labels']
    assert len(boxes) >= 1 and set(labels.tolist()) <= set(range(8))
    assert ((boxes[:, 2:] > boxes[:, :2]).all() and (boxes >= 0).all()
            and (boxes <= 64).all())


def test_mmagic_datasets_read_generated_image_sets(tmp_path):
    from mmagic.datasets import BasicConditionalDataset, BasicImageDataset
    folder = make_image_folder(str(tmp_path / 'images'), count=5, size=32)
    unconditional = BasicImageDataset(
        data_root=folder, data_prefix=dict(gt=''),
        pipeline=[dict(type='mmagic.LoadImageFromFile', key='gt')])
    assert len(unconditional) == 5
    assert unconditional[0]['gt'].shape == (32, 32, 3)
    root = make_conditional_images(str(tmp_path / 'cond'), count=8, size=32,
                                   num_classes=4)
    conditional = BasicConditionalDataset(
        data_root=root, ann_file='train.txt',
        pipeline=[dict(type='mmagic.LoadImageFromFile', key='gt')])
    labels = [conditional[i]['gt_label'] for i in range(8)]
    assert labels == [0, 1, 2, 3, 0, 1, 2, 3]
    # Class-dependent colour: images of one class are alike, others differ.
    means = [conditional[i]['gt'].reshape(-1, 3).max(0) for i in range(8)]
    assert np.abs(means[0].astype(int) - means[4]).max() < 40


@pytest.mark.parametrize('num_classes,folder,files,label_key', [
    (10, 'cifar-10-batches-py',
     ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4',
      'data_batch_5', 'test_batch', 'batches.meta'], 'labels'),
    (100, 'cifar-100-python', ['train', 'test', 'meta'], 'fine_labels'),
])
def test_cifar_pickles_read_by_mmpretrain(tmp_path, num_classes, folder,
                                          files, label_key):
    """The real files' names and keys; mmpretrain's loader reads them (through
    the generated-set variant: the official class checks the official md5
    sums and refuses them), images learnable by class colour."""
    import hashlib
    import json
    import pickle

    from mmpretrain.datasets import CIFAR10
    from mmact.openmmlab.generated_cifar import (GeneratedCIFAR10,
                                                 GeneratedCIFAR100)
    root = make_cifar(str(tmp_path), train=20, val=10,
                      num_classes=num_classes)
    base = tmp_path / folder
    sums = json.loads((base / 'md5sums.json').read_text())
    assert sorted(sums) == sorted(files)
    for name in files:
        blob = (base / name).read_bytes()
        assert hashlib.md5(blob).hexdigest() == sums[name]
    batch = pickle.loads((base / files[0]).read_bytes(), encoding='latin1')
    assert batch['data'].dtype == np.uint8 and batch['data'].shape[1] == 3072
    assert len(batch[label_key]) == len(batch['data'])
    cls = GeneratedCIFAR10 if num_classes == 10 else GeneratedCIFAR100
    train = cls(data_root=root, split='train', pipeline=[])
    test = cls(data_root=root, split='test', pipeline=[])
    assert (len(train), len(test)) == (20, 10)
    assert len(train.metainfo['classes']) == num_classes
    # The pickle rows are RGB planes: the loader's HWC image is the same.
    first = train.get_data_info(0)
    np.testing.assert_array_equal(
        first['img'], batch['data'][0].reshape(3, 32, 32).transpose(1, 2, 0))
    if num_classes == 10:
        with pytest.raises(RuntimeError, match='Cannot find CIFAR10'):
            CIFAR10(data_root=root, split='train', download=False)
        # Learnable: the shapes of a class share its colour (within the
        # generator's +-15 jitter), whatever the image.
        colours = {}
        for i in range(len(train)):
            info = train.get_data_info(i)
            pixels = info['img'].reshape(-1, 3).astype(int)
            shape = np.median(pixels[pixels.max(1) > 70], axis=0)
            colours.setdefault(info['gt_label'], []).append(shape)
        assert len(colours) == 10
        for found in colours.values():
            assert np.ptp(np.stack(found), axis=0).max() <= 30


def test_generated_cifar_needs_the_generators_md5_list(tmp_path):
    from mmact.openmmlab.generated_cifar import (GeneratedCIFAR10,
                                                 generated_variant)
    root = make_cifar(str(tmp_path), train=5, val=2)
    assert generated_variant('mmpretrain.CIFAR10', root) == 'GeneratedCIFAR10'
    assert generated_variant('CIFAR100', root) is None
    assert generated_variant('ImageNet', root) is None
    (tmp_path / 'cifar-10-batches-py' / 'md5sums.json').unlink()
    with pytest.raises(FileNotFoundError, match='no md5sums.json.*for the '
                       'real dataset use CIFAR10'):
        GeneratedCIFAR10(data_root=root, split='train', pipeline=[])


def test_imagenet_layout_read_by_mmpretrain(tmp_path):
    from mmpretrain.datasets import ImageNet
    root = make_imagenet(str(tmp_path), train=8, val=4, num_classes=4)
    lines = (tmp_path / 'meta' / 'train.txt').read_text().split('\n')
    assert lines[1] == 'n00000001/n00000001_1.JPEG 1'
    train = ImageNet(data_root=root, split='train', pipeline=[])
    val = ImageNet(data_root=root, split='val', pipeline=[])
    assert (len(train), len(val)) == (8, 4)
    info = val.get_data_info(3)
    assert info['img_path'].endswith('val/ILSVRC2012_val_00000004.JPEG')
    assert info['gt_label'] == 3
    assert len(train.metainfo['classes']) == 1000
