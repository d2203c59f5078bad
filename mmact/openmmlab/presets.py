"""CPU-sized versions of full OpenMMLab configs, for tests and benchmarks.

:func:`cpu_preset` keeps a config's model, dataset classes, pipelines,
metrics, hooks and loops — everything the real run exercises — and shrinks
what only costs time: image sizes (every ``scale`` / ``crop_size`` / pad
size in the pipelines and the data preprocessor; not for mmagic's GANs,
whose networks are built for one resolution), the schedule (no warm-up;
linear decay over the short run), batch sizes, worker processes, metric
sample counts. Pretrained-weight downloads are
switched off, SyncBN becomes BN (CPU process groups have no SyncBN) and
AMP becomes fp32 (mmengine's AMP wrapper is CUDA-only).
"""
import copy
import os.path as osp
from typing import Any, Optional

from mmengine.config import Config

SCALE_KEYS = ('scale', 'img_scale')
SIZE_KEYS = ('crop_size', 'size')
CIFAR_TYPES = ('CIFAR10', 'CIFAR100')


def _walk(node: Any, fn) -> Any:
    """Apply ``fn(key, value)`` to every dict entry, depth first."""
    if isinstance(node, dict):
        for key in list(node):
            node[key] = fn(key, _walk(node[key], fn))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            node[i] = _walk(value, fn)
    return node


def _shrink(size: int):
    def fn(key, value):
        if isinstance(value, int) and not isinstance(value, bool) and \
                key in SCALE_KEYS + SIZE_KEYS:  # mmpretrain's square sizes
            return min(value, size)
        if not (isinstance(value, (tuple, list)) and len(value) == 2
                and all(isinstance(v, int) for v in value)):
            return value
        if key in SCALE_KEYS:  # keep the aspect: the short side becomes size
            low = min(value)
            return tuple(max(1, v * size // low) for v in value)
        if key in SIZE_KEYS:
            return (size, size)
        return value
    return fn


def _offline(key, value):
    if key == 'init_cfg' and isinstance(value, dict) and \
            value.get('type') == 'Pretrained':
        return None
    if key == 'pretrained' and isinstance(value, str):
        return None
    if key == 'norm_cfg' and isinstance(value, dict) and \
            value.get('type') in ('SyncBN', 'MMSyncBN'):
        return dict(value, type='BN')
    return value


def offline(model_cfg: dict) -> dict:
    """``model_cfg`` without pretrained-weight downloads and with SyncBN as
    BN (a single process), changed in place and returned."""
    return _walk(model_cfg, _offline)


def _loaders(cfg: Config):
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            yield key, cfg[key]


def _datasets(loader: dict):
    dataset = loader.get('dataset')
    while isinstance(dataset, dict):
        yield dataset
        dataset = dataset.get('dataset')  # wrappers (RepeatDataset, ...)


def _rebase(old: Optional[str], new: str):
    old = old.rstrip('/') if old else None

    def fn(key, value):
        if old and isinstance(value, str) and value.startswith(old):
            return osp.join(new, value[len(old):].lstrip('/'))
        return value
    return fn


def set_data_root(cfg: Config, data_root: str) -> Config:
    """Point every dataset of ``cfg`` (and every path under its old
    ``data_root``, such as COCO metrics' annotation files) at ``data_root``,
    in place. CIFAR datasets read a set written by ``tools/generate_data.py``
    through their generated-set variants (see
    :mod:`mmact.openmmlab.generated_cifar`)."""
    old = cfg.get('data_root')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator'):
        if cfg.get(key) is not None:
            _walk(cfg[key], _rebase(old, data_root))
    for _, loader in _loaders(cfg):
        for dataset in _datasets(loader):
            if 'data_root' in dataset:
                dataset['data_root'] = data_root
            if str(dataset.get('type')).split('.')[-1] in CIFAR_TYPES:
                # mmpretrain's CIFAR classes check the official files' md5.
                from .generated_cifar import generated_variant
                dataset['type'] = generated_variant(
                    dataset['type'], data_root) or dataset['type']
    cfg.data_root = data_root
    return cfg


def _gan_metrics(cfg: Config, fake_nums: int) -> None:
    """Sample-count-limited metrics without downloaded weights (FID and IS
    fetch Inception weights): SWD on the generator's output size."""
    generator = cfg.model.get('generator', {})
    generator = generator.get('model', generator)  # inside ActivationSwap
    scale = next((generator[k] for k in ('output_scale', 'out_scale',
                                         'out_size') if k in generator), 64)
    metric = dict(type='SWD', prefix='swd', fake_nums=fake_nums,
                  sample_model='orig', image_shape=(3, scale, scale))
    for key in ('val_evaluator', 'test_evaluator'):
        if cfg.get(key):
            cfg[key] = dict(type='Evaluator', metrics=[metric])
    checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
    if checkpoint:
        checkpoint.pop('save_best', None)
        checkpoint.pop('rule', None)


def cpu_preset(cfg: Config,
               data_root: Optional[str] = None,
               iters: int = 2,
               size: int = 64,
               batch_size: int = 2,
               work_dir: Optional[str] = None,
               seed: int = 0) -> Config:
    """A copy of ``cfg`` that trains and evaluates in seconds on a CPU.

    Args:
        cfg: A full mmseg / mmdet / mmagic config.
        data_root: Where the (generated) dataset is; every path under the
            config's ``data_root`` (datasets, annotation files of metrics)
            moves there.
        iters: Training iterations (iteration-based loops; epoch-based loops
            run one epoch over the data).
        size: Image size: crops, pads and the short side of resizes.
        batch_size: Training batch size (evaluation uses 1).
        work_dir: Where logs and checkpoints go.
        seed: ``randomness.seed``.
    """
    cfg = copy.deepcopy(cfg)
    scope = cfg.get('default_scope')
    offline(cfg.model)
    # A GAN's networks fix its image size.
    shrink = _shrink(size) if scope != 'mmagic' else lambda k, v: v
    for key in ('train_pipeline', 'train_pipeline_stage2', 'test_pipeline',
                'tta_pipeline'):
        if cfg.get(key) is not None:
            _walk(cfg[key], shrink)
    if data_root is not None:
        set_data_root(cfg, data_root)
    for key, loader in _loaders(cfg):
        loader.update(batch_size=batch_size if key == 'train_dataloader'
                      else 1, num_workers=0, persistent_workers=False)
        for dataset in _datasets(loader):
            _walk(dataset.get('pipeline', []), shrink)
    # Data preprocessors pad to ``size``; also inside wrappers
    # (ActivationSwap's ``model``, TTA models).
    _walk(cfg.model, lambda k, v: _walk(v, shrink)
          if k == 'data_preprocessor' and isinstance(v, dict) else v)
    if cfg.get('data_preprocessor') is not None:
        _walk(cfg.data_preprocessor, shrink)
    # Sliding-window inference of 512-crops makes no sense on 64-px images.
    _walk(cfg.model, lambda k, v: 'whole' if k == 'mode' and v == 'slide'
          else v)
    train_cfg = cfg.train_cfg
    # The zoo's warm-ups (hundreds of iterations from ~0) would leave a
    # short run at lr ~ 0: a short run decays linearly from the base lr
    # (iteration loops) or keeps it (one epoch).
    if 'max_epochs' in train_cfg or train_cfg.get('by_epoch'):
        train_cfg.update(max_epochs=1, val_interval=1)
        train_cfg.pop('dynamic_intervals', None)
        interval, by_epoch = 1, True
        cfg.param_scheduler = []
    else:
        train_cfg.update(max_iters=iters, val_interval=iters)
        interval, by_epoch = iters, False
        if cfg.get('param_scheduler'):
            cfg.param_scheduler = [dict(type='PolyLR', power=1.0, eta_min=0.0,
                                        begin=0, end=iters, by_epoch=False)]
    hooks = cfg.get('default_hooks', {})
    if 'checkpoint' in hooks:
        hooks.checkpoint.update(interval=interval, by_epoch=by_epoch)
    if 'logger' in hooks:
        hooks.logger.interval = 1
    if scope == 'mmagic':
        _gan_metrics(cfg, fake_nums=4)
        cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                            if h.get('type') != 'VisualizationHook']
    wrapper = cfg.get('optim_wrapper', {})
    if wrapper.get('type') == 'AmpOptimWrapper':  # CUDA-only in mmengine
        wrapper.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype'):
            wrapper.pop(key, None)
    cfg.randomness = dict(seed=seed)
    if work_dir is not None:
        cfg.work_dir = work_dir
    return cfg
