"""mmpretrain's CIFAR-10 / CIFAR-100 datasets for sets written by
``tools/generate_data.py`` (imports mmpretrain).

mmpretrain's ``CIFAR10`` checks each pickle against the md5 sums of the
official files, so a generated set in the exact same layout fails that
check. These variants read the same files with the same loader and check
them against the md5 sums the generator listed (``md5sums.json`` next to
the batches). :func:`mmact.openmmlab.presets.set_data_root` selects them
when it points a config at a generated set; the real dataset is read by
mmpretrain's own classes.
"""
import json

from mmengine.fileio import exists, get, join_path
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

MANIFEST = 'md5sums.json'


class _ListedSums:
    """Check the files against the generator's md5 list, never download."""

    def load_data_list(self):
        folder = join_path(self.data_prefix['root'], self.base_folder)
        manifest = join_path(folder, MANIFEST)
        if not exists(manifest):
            raise FileNotFoundError(
                f'{type(self).__name__}: no {MANIFEST} in {folder}; it reads '
                'sets written by tools/generate_data.py (for the real '
                f'dataset use {type(self).__mro__[2].__name__})')
        sums = json.loads(get(manifest))
        try:
            self.train_list = [[n, sums[n]] for n, _ in self.train_list]
            self.test_list = [[n, sums[n]] for n, _ in self.test_list]
            self.meta = dict(self.meta, md5=sums[self.meta['filename']])
        except KeyError as exc:
            raise FileNotFoundError(f'{manifest} lists no {exc.args[0]}') \
                from None
        self.download = False
        return super().load_data_list()


@DATASETS.register_module()
class GeneratedCIFAR10(_ListedSums, CIFAR10):
    """:class:`mmpretrain.datasets.CIFAR10` over a generated set."""


@DATASETS.register_module()
class GeneratedCIFAR100(_ListedSums, CIFAR100):
    """:class:`mmpretrain.datasets.CIFAR100` over a generated set."""


def generated_variant(dataset_type: str, data_root: str):
    """The generated-set variant of a CIFAR dataset type (``'CIFAR10'``,
    ``'mmpretrain.CIFAR100'``) when ``data_root`` holds a generated set,
    else ``None``."""
    cls = {'CIFAR10': GeneratedCIFAR10, 'CIFAR100': GeneratedCIFAR100}.get(
        dataset_type.split('.')[-1])
    if cls is not None and exists(join_path(data_root, cls.base_folder,
                                            MANIFEST)):
        return cls.__name__
    return None
