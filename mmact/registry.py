"""The activation name table.

Every name a config can put in ``act_cfg=dict(type=...)`` is registered in
mmengine's root ``MODELS`` registry, which every OpenMMLab codebase searches
last, so mmseg, mmdet, mmpretrain and mmagic configs all find mmact's names
without a scope prefix. mmcv's own activations are registered first (by
importing ``mmcv.cnn``); mmact adds its classes and the aliases users type
(paper spellings such as ``'LA-SiLU'`` and timm's ``lower_snake`` names).
Two of mmcv's names, PReLU and RReLU, mmact takes over with subclasses of
the torch modules mmcv registers there (same arguments and state dict,
faster CPU kernels); every other name of mmcv stays mmcv's.
"""
import difflib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Type

import mmcv.cnn  # noqa: F401  (mmcv's activations must own their names first)
import torch.nn as nn
from mmengine.registry import MODELS

FAMILIES = ('classic', 'gelu', 'swish', 'hard', 'exponential', 'acon',
            'layeract', 'ditac')


@dataclass(frozen=True)
class ActivationInfo:
    """One name that ``act_cfg=dict(type=name)`` accepts.

    Args:
        name: The registered name.
        canonical: The class's primary name (equal to ``name`` unless alias).
        family: Family of functions, one of :data:`FAMILIES`.
        learnable: ``'yes'``, ``'no'`` or ``'optional'`` (set by arguments).
        source: ``'mmcv'`` or ``'mmact'``.
    """
    name: str
    canonical: str
    family: str
    learnable: str
    source: str


_TABLE: Dict[str, ActivationInfo] = {}


def _same_class(a: type, b: type) -> bool:
    # A module imported twice under reload() yields a new class object with
    # the same qualified name; that is a re-registration, not a conflict.
    return a is b or (a.__module__, a.__qualname__) == (b.__module__,
                                                        b.__qualname__)


def _register_name(key: str, cls: type,
                   replaces: Optional[type] = None) -> None:
    owner = MODELS.module_dict.get(key)
    if owner is not None and not (_same_class(owner, cls) or
                                  owner is replaces):
        raise KeyError(
            f'activation name {key!r} is already registered by '
            f'{owner.__module__}.{owner.__qualname__}; mmact cannot take it')
    MODELS.register_module(name=key, module=cls, force=owner is not None)


def _record(names: Sequence[str], canonical: str, family: str,
            learnable: str, source: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f'unknown family {family!r}; one of {FAMILIES}')
    if learnable not in ('yes', 'no', 'optional'):
        raise ValueError(f'learnable must be yes/no/optional, got {learnable}')
    for key in names:
        _TABLE[key] = ActivationInfo(key, canonical, family, learnable, source)


def register_activation(name: str,
                        *,
                        family: str,
                        learnable: str = 'no',
                        aliases: Sequence[str] = (),
                        replaces: Optional[Type[nn.Module]] = None
                        ) -> Callable[[Type], Type]:
    """Class decorator: register an mmact activation under its names.

    Args:
        name: Primary name (the class's CamelCase name, usually).
        family: Family of functions, one of :data:`FAMILIES`.
        learnable: Whether it has trainable parameters
            (``'yes'``, ``'no'``, or ``'optional'`` when arguments decide).
        aliases: Further names configs may use (paper spellings, timm names).
        replaces: The class mmcv registers under ``name``, which mmact takes
            over with a subclass of it (same arguments and state dict);
            any other owner of the name is a conflict.
    """

    def decorator(cls: Type[nn.Module]) -> Type[nn.Module]:
        if replaces is not None and not issubclass(cls, replaces):
            raise TypeError(f'{cls.__qualname__} must subclass '
                            f'{replaces.__qualname__} to take its name')
        names = (name, *aliases)
        _register_name(name, cls, replaces)
        for key in aliases:
            _register_name(key, cls)
        _record(names, name, family, learnable, 'mmact')
        return cls

    return decorator


def register_alias(alias: str, cls: Type[nn.Module], canonical: str,
                   family: str, learnable: str = 'no') -> None:
    """Register a further name for a class another package owns."""
    _register_name(alias, cls)
    _record((alias, ), canonical, family, learnable, 'mmcv')


def record_mmcv(name: str, family: str, learnable: str = 'no') -> None:
    """List one of mmcv's own activation names in the table."""
    if name not in MODELS.module_dict:
        raise KeyError(f'mmcv does not register {name!r}')
    _record((name, ), name, family, learnable, 'mmcv')


def list_activations(family: Optional[str] = None) -> List[ActivationInfo]:
    """Every activation name usable in ``act_cfg``, sorted by family and name.

    Args:
        family: Keep only this family (one of :data:`FAMILIES`).
    """
    if family is not None and family not in FAMILIES:
        raise KeyError(f'unknown family {family!r}; one of {FAMILIES}')
    infos = [i for i in _TABLE.values() if family in (None, i.family)]
    return sorted(infos,
                  key=lambda i: (FAMILIES.index(i.family), i.canonical.lower(),
                                 i.name != i.canonical, i.name.lower()))


def closest_names(name: str, n: int = 5) -> List[str]:
    """The registered activation names most similar to ``name``."""
    names = list(_TABLE)
    folded = {k.lower().replace('-', '').replace('_', ''): k for k in names}
    key = name.lower().replace('-', '').replace('_', '')
    exact = [folded[key]] if key in folded else []
    near = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    near += [folded[k] for k in difflib.get_close_matches(
        key, list(folded), n=n, cutoff=0.6)]
    return list(dict.fromkeys(exact + near))[:n]


def get_activation(name: str) -> Type[nn.Module]:
    """The class registered under an activation name.

    Raises:
        KeyError: ``name`` is unknown; the message lists the closest names.
    """
    if name not in _TABLE:
        hint = closest_names(name)
        raise KeyError(f'unknown activation {name!r}; closest valid names: '
                       f'{", ".join(hint) if hint else "(none)"} '
                       '(see `python -m mmact list`)')
    return MODELS.module_dict[name]


def build_activation(cfg: dict) -> nn.Module:
    """Build an activation from ``dict(type=NAME, **kwargs)``.

    Same result as ``mmcv.cnn.build_activation_layer`` but an unknown name
    fails with the closest valid names.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'activation config must be a dict with "type", '
                        f'got {cfg!r}')
    cfg = dict(cfg)
    cls = get_activation(cfg.pop('type'))
    return cls(**cfg)
