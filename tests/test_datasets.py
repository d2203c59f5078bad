"""Generated datasets are read by the real OpenMMLab dataset classes."""
import numpy as np
import pytest
from mmseg.datasets import ADE20KDataset, CityscapesDataset

from mmact.datasets import (make_ade20k, make_cityscapes, make_coco,
                            make_conditional_images, make_image_folder)

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
