"""Test-time image corruptions (ImageNet-C style, the ``imagecorruptions``
package as maintained in ``imagecorruptions-imaug``, which works with
current scikit-image) as a pipeline transform for any OpenMMLab codebase.

``ImageCorruption`` is registered in mmengine's root ``TRANSFORMS``, so
mmseg, mmdet and mmpretrain pipelines find it; put it right after
``LoadImageFromFile``::

    test_pipeline = [dict(type='LoadImageFromFile'),
                     dict(type='ImageCorruption', corruption='fog',
                          severity=3), ...]

``tools/robustness.py`` evaluates a checkpoint over corruptions and
severities and writes the per-corruption / per-group report.
"""
import difflib
from typing import Dict, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS

# The LayerAct paper's report groups (ImageNet-C's four families plus the
# four "extra" corruptions of imagecorruptions placed in their family).
GROUPS: Dict[str, Tuple[str, ...]] = {
    'Noise': ('gaussian_noise', 'shot_noise', 'impulse_noise',
              'speckle_noise'),
    'Blur': ('defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur',
             'gaussian_blur'),
    'Weather': ('snow', 'frost', 'fog', 'brightness', 'spatter'),
    'Digital': ('contrast', 'elastic_transform', 'pixelate',
                'jpeg_compression', 'saturate'),
}
CORRUPTIONS = tuple(name for names in GROUPS.values() for name in names)


def corrupt(image: np.ndarray, corruption: str, severity: int,
            channel_order: str = 'bgr') -> np.ndarray:
    """A corrupted copy of a uint8 image (same shape, dtype and channel
    order, ``'bgr'`` or ``'rgb'``)."""
    from imagecorruptions import corrupt as _corrupt
    flip = channel_order == 'bgr'
    rgb = np.ascontiguousarray(image[..., ::-1] if flip else image)
    out = _corrupt(rgb, corruption_name=corruption, severity=severity)
    out = np.asarray(out)
    if out.shape[:2] != image.shape[:2]:  # a few corruptions crop or pad
        import cv2
        out = cv2.resize(out, (image.shape[1], image.shape[0]))
    out = np.clip(out, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out[..., ::-1] if flip else out)


@TRANSFORMS.register_module()
class ImageCorruption(BaseTransform):
    """Corrupt ``results['img']`` (uint8) with one of the 19 corruptions.

    Args:
        corruption: A name of :data:`CORRUPTIONS` (e.g. ``'fog'``).
        severity: 1 (mild) to 5 (strong).
        channel_order: ``'bgr'`` (images loaded from files by
            ``LoadImageFromFile``) or ``'rgb'`` (mmpretrain's CIFAR
            datasets, which hand RGB arrays to the pipeline).
    """

    def __init__(self, corruption: str, severity: int = 3,
                 channel_order: str = 'bgr') -> None:
        if corruption not in CORRUPTIONS:
            near = difflib.get_close_matches(corruption, CORRUPTIONS, n=3)
            raise ValueError(f'ImageCorruption: unknown corruption '
                             f'{corruption!r}; closest: {", ".join(near)} '
                             f'(all: {", ".join(CORRUPTIONS)})')
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f'ImageCorruption: severity must be 1..5, got '
                             f'{severity!r}')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f"ImageCorruption: channel_order must be 'bgr' "
                             f"or 'rgb', got {channel_order!r}")
        self.corruption = corruption
        self.severity = severity
        self.channel_order = channel_order

    def transform(self, results: dict) -> dict:
        results['img'] = corrupt(results['img'], self.corruption,
                                 self.severity, self.channel_order)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(corruption={self.corruption!r}, '
                f'severity={self.severity}, '
                f'channel_order={self.channel_order!r})')
