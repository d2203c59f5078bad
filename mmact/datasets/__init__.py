"""Small generated datasets in the exact on-disk layouts of real ones."""
from .synthetic import (make_ade20k, make_cifar, make_cityscapes, make_coco,
                        make_conditional_images, make_image_folder,
                        make_imagenet)

__all__ = ['make_ade20k', 'make_cifar', 'make_cityscapes', 'make_coco',
           'make_conditional_images', 'make_image_folder', 'make_imagenet']
