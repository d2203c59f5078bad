"""Generated datasets are read by the real OpenMMLab dataset classes."""
import numpy as np
import pytest
from mmseg.datasets import ADE20KDataset, CityscapesDataset

from mmact.datasets import make_ade20k, make_cityscapes

PIPELINE = [dict(type='LoadImageFromFile'),
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
