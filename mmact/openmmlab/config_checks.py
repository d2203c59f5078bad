"""Checks run on a config before anything is built or trained."""
import os
from typing import Any, Iterator, Tuple

from ..registry import get_activation
from .swap import parse_rules

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _activation_types(node: Any, path: str) -> Iterator[Tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            where = f'{path}.{key}' if path else str(key)
            if 'act_cfg' in str(key) and isinstance(value, dict) and \
                    isinstance(value.get('type'), str):
                yield where, value['type']
            yield from _activation_types(value, where)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _activation_types(value, f'{path}.{i}')


def check_activations(cfg) -> None:
    """Every ``*act_cfg*`` type in the model config is a known activation.

    Raises:
        KeyError: naming the config key and the closest valid names.
    """
    for where, name in _activation_types(cfg.get('model', {}), 'model'):
        if '.' in name:  # scoped names (``mmdet.X``) are the codebase's
            continue
        try:
            get_activation(name)
        except KeyError as exc:
            raise KeyError(f'{where}: {exc.args[0]}') from None


def _swaps(node: Any, path: str) -> Iterator[Tuple[str, dict]]:
    if isinstance(node, dict):
        if node.get('type') == 'ActivationSwap':
            yield path, node
        for key, value in node.items():
            yield from _swaps(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _swaps(value, f'{path}.{i}')


def check_swaps(cfg) -> None:
    """Every ``ActivationSwap`` in the model config has valid rules.

    Raises:
        KeyError, ValueError: naming the config key and the problem.
    """
    for where, node in _swaps(cfg.get('model', {}), 'model'):
        try:
            parse_rules(node.get('rules'), node.get('act_cfg'))
        except (KeyError, ValueError) as exc:
            raise type(exc)(f'{where}: {exc.args[0]}') from None


def check_data_roots(cfg) -> None:
    """Every dataloader's ``data_root`` exists.

    Raises:
        FileNotFoundError: naming the dataloader and the missing path.
    """
    for key in DATALOADERS:
        loader = cfg.get(key)
        dataset = loader.get('dataset', {}) if loader else {}
        while isinstance(dataset, dict) and 'dataset' in dataset:
            dataset = dataset['dataset']  # wrappers (RepeatDataset, ...)
        root = dataset.get('data_root') if isinstance(dataset, dict) else None
        if root and not os.path.isdir(root):
            raise FileNotFoundError(
                f'{key}.dataset.data_root {root!r} does not exist; point it '
                'at the dataset (e.g. --cfg-options data_root=...) or '
                'generate a small one with tools/generate_data.py')


def check_config(cfg) -> None:
    """All pre-flight checks: activation names, swap rules, data roots."""
    check_activations(cfg)
    check_swaps(cfg)
    check_data_roots(cfg)
