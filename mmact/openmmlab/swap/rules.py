"""Swap rules and the functional calls they can name.

A rule names module types (``'ReLU'``: every ``nn.ReLU`` instance) and/or
activation *functions* (``'F.relu'``). A function is caught in every
spelling: ``F.relu`` under any import alias, ``from torch.nn.functional
import relu``, ``torch.relu``, ``x.relu()`` and the in-place forms
(``F.relu(x, inplace=True)``, ``F.relu_``, ``torch.relu_``, ``x.relu_()``).

The replacement sees only the input. Per function:

- ``inplace=True`` and the in-place spellings are honoured: the result is
  written into the input, which is returned; ``out=`` writes into ``out``.
- The replaced function's own shape parameters are not used (the new
  activation defines the shape): ``negative_slope`` (leaky_relu),
  ``approximate`` (gelu), ``alpha`` (elu). Each one passed at a swapped
  call site is listed in the swap summary.
"""
import fnmatch
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...modules.channelwise import (CHANNELS_FIRST, CHANNELS_LAST,
                                    ChannelwiseActivation)
from ...registry import build_activation, get_activation
from . import fused

HONOURED = ('inplace', 'out')


@dataclass(frozen=True)
class Spelling:
    """One way to call an activation function.

    Args:
        family: The function it computes (``'relu'``).
        name: How a rule or the summary writes it (``'F.relu'``).
        params: Its parameters after the input, in order.
        inplace: Whether it always writes into its input.
    """
    family: str
    name: str
    params: Tuple[str, ...] = ()
    inplace: bool = False


def _spellings() -> Dict[int, Tuple[Callable, Spelling]]:
    table = []
    shape_params = {'leaky_relu': ('negative_slope', ),
                    'gelu': ('approximate', ), 'elu': ('alpha', )}
    for family in ('relu', 'leaky_relu', 'gelu', 'silu', 'elu', 'hardswish',
                   'mish', 'sigmoid', 'tanh'):
        shape = shape_params.get(family, ())
        # F.<family>(input, *shape, inplace=False) where it has inplace.
        fn = getattr(F, family)
        params = tuple(p for p in inspect.signature(fn).parameters
                       if p != 'input') if inspect.isfunction(fn) else shape
        table.append((fn, Spelling(family, f'F.{family}', params)))
        inplace_fn = getattr(F, family + '_', None)
        if inplace_fn is not None:
            table.append((inplace_fn, Spelling(family, f'F.{family}_', shape,
                                               True)))
        for owner, prefix in ((torch, 'torch'), (torch.Tensor, 'Tensor')):
            if hasattr(owner, family):
                table.append((getattr(owner, family),
                              Spelling(family, f'{prefix}.{family}')))
            if hasattr(owner, family + '_'):
                table.append((getattr(owner, family + '_'),
                              Spelling(family, f'{prefix}.{family}_', (),
                                       True)))
    # F.relu_ is torch.relu_: one entry per function object, first name wins.
    found: Dict[int, Tuple[Callable, Spelling]] = {}
    for fn, spelling in table:
        found.setdefault(id(fn), (fn, spelling))
    return found


# id(function) -> (function, spelling); the function is kept so its id
# stays unique.
SPELLINGS = _spellings()
# Every name a rule may use -> family ('F.relu', 'torch.relu_', ...).
FUNCTION_NAMES: Dict[str, str] = {
    s.name: s.family for _, s in SPELLINGS.values()}
for _name, _family in list(FUNCTION_NAMES.items()):
    if _name.startswith('torch.'):
        FUNCTION_NAMES.setdefault('F.' + _name[6:], _family)
METHOD_NAMES = {s.name.split('.')[1]: s.family
                for _, s in SPELLINGS.values() if s.name.startswith('Tensor.')}


def spelling_of(fn: Any) -> Optional[Spelling]:
    """The spelling of an activation function object, or ``None``."""
    entry = SPELLINGS.get(id(fn))
    return entry[1] if entry is not None and entry[0] is fn else None


@dataclass(frozen=True)
class SwapRule:
    """One replacement rule.

    Args:
        replace: Module type names (``'ReLU'``; ``'FusedBiasLeakyReLU'``,
            see :mod:`.fused`) and/or functions (``'F.relu'``) to replace.
        act_cfg: The new activation's config.
        include: Module paths the rule is limited to (``'backbone'``,
            ``'roi_head.bbox_head'``, globs such as ``'backbone.layer*'``);
            empty means the whole model.
        exclude: Module paths left alone.
        calls: Which calls of a module per forward of its owner the rule
            replaces (0-based; the others keep the original module). For
            ResNet's ``Bottleneck``, whose one ReLU runs after conv1, conv2
            (the 3x3) and the residual sum, ``calls=[1]`` replaces only the
            one after the 3x3 convolution. Empty: every call.
    """
    replace: Tuple[str, ...]
    act_cfg: Dict[str, Any]
    include: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = ()
    calls: Tuple[int, ...] = ()

    @property
    def module_types(self) -> Tuple[type, ...]:
        return tuple(fused.fused_type() if n == fused.NAME else
                     get_activation(n) for n in self.replace
                     if n not in FUNCTION_NAMES)

    @property
    def replaces_fused(self) -> bool:
        """Whether the rule names mmcv's fused bias-LeakyReLU."""
        return fused.NAME in self.replace

    @property
    def families(self) -> Tuple[str, ...]:
        """The activation functions the rule replaces (``'relu'``, ...)."""
        return tuple(dict.fromkeys(FUNCTION_NAMES[n] for n in self.replace
                                   if n in FUNCTION_NAMES))

    @property
    def new_type(self) -> str:
        return self.act_cfg['type']

    def covers(self, path: str) -> bool:
        """Whether the module at ``path`` is within the rule's scope."""
        def match(patterns):
            return any(path == p or path.startswith(p + '.')
                       or fnmatch.fnmatchcase(path, p) for p in patterns)
        return (not self.include or match(self.include)) and not match(
            self.exclude)

    def build(self, old: Optional[nn.Module] = None,
              shape: Optional[torch.Size] = None) -> nn.Module:
        """The new activation; ``old`` (the replaced module) says whether the
        call site allows ``inplace``, ``shape`` (an input shape seen there)
        gives per-channel activations their channel count."""
        cfg = dict(self.act_cfg)
        cls = get_activation(cfg['type'])
        if 'inplace' not in cfg and 'inplace' in inspect.signature(
                cls).parameters:
            cfg['inplace'] = bool(getattr(old, 'inplace', False))
        act = build_activation(cfg)
        if (shape is not None and isinstance(act, ChannelwiseActivation)
                and act.per_channel and 'num_channels' not in cfg):
            # (B, L, C) token sequences are channel-last; maps and (N, C)
            # are not.
            channel_dim = CHANNELS_LAST if len(shape) == 3 else CHANNELS_FIRST
            cfg.setdefault('channel_dim', channel_dim)
            act = build_activation(
                dict(cfg, num_channels=shape[channel_dim]))
        return act


def parametric(act: nn.Module) -> bool:
    """Whether ``act`` has (or will have) parameters of its own."""
    return any(True for _ in act.parameters()) or (
        isinstance(act, ChannelwiseActivation) and not act.channels_known)


def _strings(value: Any, where: str) -> Tuple[str, ...]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) for v in value):
        raise ValueError(f'{where} must be a string or a list of strings, '
                         f'got {value!r}')
    return tuple(value)


KEYS = ('replace', 'act_cfg', 'include', 'exclude', 'calls')


def parse_rules(rules: Sequence[dict],
                act_cfg: Optional[dict] = None) -> List[SwapRule]:
    """Validate swap rules and fill in the shared ``act_cfg``.

    Raises:
        ValueError: naming the rule and the offending key.
        KeyError: an unknown activation or type name, with the closest
            valid names.
    """
    if not isinstance(rules, (list, tuple)) or not rules:
        raise ValueError(f'ActivationSwap: rules must be a non-empty list of '
                         f'dicts, got {rules!r}')
    parsed = []
    for i, rule in enumerate(rules):
        where = f'ActivationSwap rules[{i}]'
        if not isinstance(rule, dict):
            raise ValueError(f'{where} must be a dict, got {rule!r}')
        unknown = set(rule) - set(KEYS)
        if unknown:
            raise ValueError(f'{where}: unknown keys {sorted(unknown)}; '
                             f'valid: {", ".join(KEYS)}')
        if 'replace' not in rule:
            raise ValueError(f'{where}: "replace" is required (e.g. '
                             "replace=['ReLU', 'F.relu'])")
        replace = _strings(rule['replace'], f'{where}.replace')
        for name in replace:
            if name in FUNCTION_NAMES or name == fused.NAME:
                continue
            if '.' in name:
                raise KeyError(
                    f'{where}.replace: unknown functional call {name!r}; '
                    'supported: ' + ', '.join(sorted(
                        n for n in FUNCTION_NAMES if n.startswith('F.'))) +
                    ' (also as torch.NAME and Tensor.NAME)')
            try:
                get_activation(name)
            except KeyError as exc:
                raise KeyError(f'{where}.replace: {exc.args[0]}') from None
        new = rule.get('act_cfg', act_cfg)
        if not isinstance(new, dict) or not isinstance(new.get('type'), str):
            raise ValueError(f'{where}: needs an act_cfg dict with a "type" '
                             '(in the rule or the ActivationSwap)')
        try:
            get_activation(new['type'])
        except KeyError as exc:
            raise KeyError(f'{where}.act_cfg: {exc.args[0]}') from None
        calls = rule.get('calls', ())
        calls = [calls] if isinstance(calls, int) else calls
        if not isinstance(calls, (list, tuple)) or not all(
                isinstance(c, int) and c >= 0 for c in calls):
            raise ValueError(f'{where}.calls must be call positions (ints '
                             f'>= 0), got {rule["calls"]!r}')
        functions = [n for n in replace if n in FUNCTION_NAMES]
        if calls and functions:
            raise ValueError(f'{where}.calls selects calls of activation '
                             'modules; it cannot go with functions '
                             f'({", ".join(functions)}): put them in a rule '
                             'of their own')
        parsed.append(
            SwapRule(replace, dict(new),
                     _strings(rule.get('include', ()), f'{where}.include'),
                     _strings(rule.get('exclude', ()), f'{where}.exclude'),
                     tuple(sorted(set(calls)))))
    return parsed
