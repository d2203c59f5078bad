"""Config-level activation swap for models that hard-code their activations.

ResNet blocks, RetinaNet / RPN / bbox heads and BigGAN's output create
``nn.ReLU`` modules or call ``F.relu`` / ``torch.tanh`` themselves, so no
``act_cfg`` reaches them. ``ActivationSwap`` is a model *builder* registered
in mmengine's root ``MODELS``: it builds the wrapped model config and, before
returning it, replaces the activations its rules name. The result is the
downstream model itself (same class, same interface); the new activations
are its submodules from build time on, so the optimizer, DDP and
checkpoints see them::

    _base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py']
    custom_imports = dict(imports=['mmact'], allow_failed_imports=False)
    model = dict(
        _delete_=True, type='ActivationSwap', model=_base_.model,
        act_cfg=dict(type='DiTAC'),
        rules=[dict(replace=['ReLU', 'F.relu'], include=['backbone'])])

Each rule names module types (``'ReLU'``: every ``nn.ReLU`` instance) or
functional calls (``'F.relu'``, ``'torch.tanh'``, ...: calls made in the
source of a module's own class), optionally restricted to module paths
(``include`` / ``exclude``: a path, everything under it, or a glob). A rule
without ``act_cfg`` uses the swap's ``act_cfg``.

Where one module object is called several times per forward of its owner
(ResNet's ``BasicBlock`` calls its ReLU twice, ``Bottleneck`` three times on
two channel counts, ``Shared2FCBBoxHead`` once per fc) and the new
activation has parameters, every call gets its own activation: a dry
forward of the owner at build time records the calls and their channel
counts, and a :class:`CallSiteActivation` dispatches the k-th call of each
owner forward to the k-th activation. A functional call site gets one
activation, registered on its owner as ``swapped_<function>``.
"""
import fnmatch
import inspect
import re
import sys
import threading
import types
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.registry import MODELS
from torch.nn.modules.conv import _ConvNd

from ..modules.channelwise import (CHANNELS_FIRST, CHANNELS_LAST,
                                   ChannelwiseActivation)
from ..registry import build_activation, get_activation

# The functional calls a rule can name: 'alias.function' as written in the
# owner's source, with the module object that alias must refer to.
FUNCTIONAL = {
    'F.relu': (F, 'relu'),
    'F.relu_': (F, 'relu_'),
    'F.gelu': (F, 'gelu'),
    'F.silu': (F, 'silu'),
    'F.leaky_relu': (F, 'leaky_relu'),
    'F.sigmoid': (F, 'sigmoid'),
    'F.tanh': (F, 'tanh'),
    'torch.relu': (torch, 'relu'),
    'torch.sigmoid': (torch, 'sigmoid'),
    'torch.tanh': (torch, 'tanh'),
}


@dataclass(frozen=True)
class SwapRule:
    """One replacement rule.

    Args:
        replace: Module type names (``'ReLU'``) and/or functional calls
            (``'F.relu'``) to replace.
        act_cfg: The new activation's config.
        include: Module paths the rule is limited to (``'backbone'``,
            ``'roi_head.bbox_head'``, globs such as ``'backbone.layer*'``);
            empty means the whole model.
        exclude: Module paths left alone.
    """
    replace: Tuple[str, ...]
    act_cfg: Dict[str, Any]
    include: Tuple[str, ...] = ()
    exclude: Tuple[str, ...] = ()

    @property
    def module_types(self) -> Tuple[type, ...]:
        return tuple(get_activation(n) for n in self.replace
                     if n not in FUNCTIONAL)

    @property
    def functions(self) -> Tuple[str, ...]:
        return tuple(n for n in self.replace if n in FUNCTIONAL)

    def covers(self, path: str) -> bool:
        """Whether the module at ``path`` is within the rule's scope."""
        def match(patterns):
            return any(path == p or path.startswith(p + '.')
                       or fnmatch.fnmatchcase(path, p) for p in patterns)
        return (not self.include or match(self.include)) and not match(
            self.exclude)


def _strings(value: Any, where: str) -> Tuple[str, ...]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) for v in value):
        raise ValueError(f'{where} must be a string or a list of strings, '
                         f'got {value!r}')
    return tuple(value)


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
        unknown = set(rule) - {'replace', 'act_cfg', 'include', 'exclude'}
        if unknown:
            raise ValueError(f'{where}: unknown keys {sorted(unknown)}; '
                             'valid: replace, act_cfg, include, exclude')
        if 'replace' not in rule:
            raise ValueError(f'{where}: "replace" is required (e.g. '
                             "replace=['ReLU', 'F.relu'])")
        replace = _strings(rule['replace'], f'{where}.replace')
        for name in replace:
            if '.' in name and name not in FUNCTIONAL:
                raise KeyError(f'{where}.replace: unknown functional call '
                               f'{name!r}; supported: '
                               f'{", ".join(FUNCTIONAL)}')
            if name not in FUNCTIONAL:
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
        parsed.append(
            SwapRule(replace, dict(new),
                     _strings(rule.get('include', ()), f'{where}.include'),
                     _strings(rule.get('exclude', ()), f'{where}.exclude')))
    return parsed


class CallSiteActivation(nn.Module):
    """One activation per call of a reused activation module.

    Its owner's forward pre-hook resets the call counter, so the k-th call
    within one owner forward runs ``acts[k]`` (modulo the count: activation
    checkpointing re-runs the calls in the same order).

    Args:
        acts: The activations, in call order.
    """

    def __init__(self, acts: Sequence[nn.Module]) -> None:
        super().__init__()
        self.acts = nn.ModuleList(acts)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.acts[self.calls % len(self.acts)]
        self.calls += 1
        return act(x)


def _reset_call_sites(owner: nn.Module, args) -> None:
    for child in owner.children():
        if isinstance(child, CallSiteActivation):
            child.calls = 0


# Owners whose forward is running, innermost last; the functional proxies
# dispatch to the innermost owner's ``swapped_<function>``.
_OWNERS = threading.local()


def _owner_stack() -> list:
    if not hasattr(_OWNERS, 'stack'):
        _OWNERS.stack = []
    return _OWNERS.stack


def _enter_owner(owner: nn.Module, args) -> None:
    _owner_stack().append(owner)


def _leave_owner(owner: nn.Module, args, output) -> None:
    stack = _owner_stack()
    if stack and stack[-1] is owner:
        stack.pop()


def _site_attr(call: str) -> str:
    """The owner attribute holding the activation for ``call``: F.relu,
    F.relu_ and torch.relu share ``swapped_relu``."""
    return 'swapped_' + call.split('.')[-1].rstrip('_')


class _FunctionalProxy(types.ModuleType):
    """Stands for ``F`` / ``torch`` in the global namespace of a module
    whose classes call a swapped function: each swapped function runs the
    innermost running owner's ``swapped_<function>`` when it has one, the
    original otherwise; every other attribute is the real module's."""

    def __init__(self, target: types.ModuleType) -> None:
        super().__init__(target.__name__)
        self._target = target
        self._swapped: Dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return self._swapped.get(name) or getattr(self._target, name)

    def swap(self, function: str) -> None:
        if function in self._swapped:
            return
        original = getattr(self._target, function)
        attr = _site_attr(function)

        def dispatch(input, *args, **kwargs):
            stack = _owner_stack()
            act = getattr(stack[-1], attr, None) if stack else None
            if act is None:
                return original(input, *args, **kwargs)
            return act(input)

        dispatch.__name__ = function
        self._swapped[function] = dispatch


def _defining_classes(cls: type, call: str) -> List[type]:
    """The classes of ``cls``'s MRO whose own source makes ``call``."""
    pattern = re.compile(r'(?<![\w.])' + re.escape(call) + r'\s*\(')
    found = []
    for klass in cls.__mro__:
        if klass.__module__.split('.')[0] in ('torch', 'mmengine', 'builtins'):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if pattern.search(source):
            found.append(klass)
    return found


def _install_proxy(classes: Sequence[type], call: str) -> None:
    """Route ``call`` (e.g. ``'F.relu'``) made in the Python modules that
    define ``classes`` through a :class:`_FunctionalProxy`."""
    alias, function = call.split('.')
    target = FUNCTIONAL[call][0]
    for klass in classes:
        namespace = vars(sys.modules[klass.__module__])
        current = namespace.get(alias)
        if isinstance(current, _FunctionalProxy):
            current.swap(function)
        elif current is target:
            proxy = _FunctionalProxy(target)
            proxy.swap(function)
            namespace[alias] = proxy


def _parametric(act: nn.Module) -> bool:
    return any(True for _ in act.parameters()) or (
        isinstance(act, ChannelwiseActivation) and not act.channels_known)


def _probe_inputs(owner: nn.Module):
    """Small random inputs that the owner's first layers accept (a tuple of
    maps for OpenMMLab necks, whose ``in_channels`` is a list)."""
    generator = torch.Generator().manual_seed(0)
    param = next(owner.parameters(), torch.empty(0))
    levels = getattr(owner, 'in_channels', None)
    if isinstance(levels, (list, tuple)) and all(
            isinstance(c, int) for c in levels):
        yield tuple(
            torch.randn((1, c, 64 >> i, 64 >> i), generator=generator).to(
                param.device, param.dtype) for i, c in enumerate(levels))
    tried = 0
    for layer in owner.modules():
        if isinstance(layer, _ConvNd):
            shape = (1, layer.in_channels) + (16, ) * (layer.weight.ndim - 2)
        elif isinstance(layer, nn.Linear):
            shape = (1, layer.in_features)
        else:
            continue
        param = layer.weight
        x = torch.randn(shape, generator=generator).to(param.device,
                                                       param.dtype)
        yield (x, )
        yield x
        tried += 1
        if tried == 4:
            return


@torch.no_grad()
def probe_calls(owner: nn.Module, watched: Sequence[nn.Module],
                functions: Sequence[str] = ()
                ) -> Optional[Dict[Any, List[torch.Size]]]:
    """Input shapes of every call of ``watched`` modules (keyed by module)
    and of swapped ``functions`` (keyed by name) during one dry forward of
    ``owner`` in eval mode. ``None`` if no probe input fit the owner."""
    calls: Dict[Any, List[torch.Size]] = {m: [] for m in watched}
    calls.update({f: [] for f in functions})

    def record(module, args):
        calls[module].append(args[0].shape)

    recorders = {
        _site_attr(f): (lambda x, f=f: calls[f].append(x.shape) or x)
        for f in functions
    }
    handles = [m.register_forward_pre_hook(record) for m in watched]
    modes = {m: m.training for m in owner.modules()}
    saved = {name: owner.__dict__.get(name) for name in recorders}
    owner.__dict__.update(recorders)
    owner.eval()
    try:
        for inputs in _probe_inputs(owner):
            for found in calls.values():
                found.clear()
            _owner_stack().append(owner)
            try:
                owner(inputs)
                return calls
            except Exception:  # noqa: BLE001  (try the next input kind)
                continue
            finally:
                _owner_stack().pop()
        return None
    finally:
        for handle in handles:
            handle.remove()
        for name, value in saved.items():
            if value is None:
                owner.__dict__.pop(name)
            else:
                owner.__dict__[name] = value
        for module, mode in modes.items():
            module.training = mode


def _channels(shape: torch.Size) -> Tuple[int, int]:
    # (B, L, C) token sequences are channel-last; maps and (N, C) are not.
    if len(shape) == 3:
        return shape[-1], CHANNELS_LAST
    return shape[1], CHANNELS_FIRST


def _build(cfg: dict, old: Optional[nn.Module],
           shape: Optional[torch.Size] = None) -> nn.Module:
    cfg = dict(cfg)
    cls = get_activation(cfg['type'])
    if 'inplace' not in cfg and 'inplace' in inspect.signature(
            cls).parameters:
        # The old module's inplace says whether its call site allows it.
        cfg['inplace'] = bool(getattr(old, 'inplace', False))
    act = build_activation(cfg)
    if (shape is not None and isinstance(act, ChannelwiseActivation)
            and act.per_channel and 'num_channels' not in cfg):
        num_channels, channel_dim = _channels(shape)
        cfg.setdefault('channel_dim', channel_dim)
        act = build_activation(dict(cfg, num_channels=num_channels))
    return act


@dataclass
class Replacement:
    """One replaced activation (``count`` calls), or, with ``count == 0``,
    one left in place because its owner never calls it."""
    path: str
    old: str
    new: str
    count: int = 1


def _swap_module(owner: nn.Module, path: str, name: str, old: nn.Module,
                 rule: SwapRule) -> Replacement:
    new = _build(rule.act_cfg, old)
    where = f'{path}.{name}'.lstrip('.')
    if _parametric(new):
        calls = probe_calls(owner, [old])
        shapes = calls[old] if calls else []
        if calls is not None and not shapes:
            # e.g. RetinaHead.relu: built, never called. Parameters there
            # would get no gradient (and break DDP), so it stays.
            return Replacement(where, type(old).__name__,
                               rule.act_cfg['type'], 0)
        if len(shapes) > 1:
            new = CallSiteActivation(
                [_build(rule.act_cfg, old, s) for s in shapes])
            if _reset_call_sites not in owner._forward_pre_hooks.values():
                owner.register_forward_pre_hook(_reset_call_sites)
        elif shapes and isinstance(new, ChannelwiseActivation) and \
                not new.channels_known:
            new = _build(rule.act_cfg, old, shapes[0])
    setattr(owner, name, new)
    count = len(new.acts) if isinstance(new, CallSiteActivation) else 1
    return Replacement(where, type(old).__name__, rule.act_cfg['type'],
                       count)


def _swap_function(owner: nn.Module, path: str, call: str,
                   rule: SwapRule) -> Optional[Replacement]:
    attr = _site_attr(call)
    if attr in owner._modules:
        return None  # an earlier rule took this call site
    _install_proxy(_defining_classes(type(owner), call), call)
    new = _build(rule.act_cfg, None)
    if _parametric(new):
        calls = probe_calls(owner, [], [call])
        if calls is not None and not calls[call]:
            return None  # this configuration never makes the call
        if calls and isinstance(new, ChannelwiseActivation) and \
                not new.channels_known:
            new = _build(rule.act_cfg, None, calls[call][0])
        elif calls is None:
            if isinstance(new, ChannelwiseActivation) and \
                    not new.channels_known:
                raise ValueError(
                    f'ActivationSwap: cannot tell the channels of {call} in '
                    f'{path or "the model"} ({type(owner).__name__}); give '
                    'num_channels in act_cfg or restrict the rule with '
                    'include / exclude')
            print_log(
                f'ActivationSwap: could not dry-run {path or "the model"} '
                f'({type(owner).__name__}) to see whether it calls {call}; '
                'replaced anyway. If that call is never made its parameters '
                'get no gradient (DDP then needs find_unused_parameters=True;'
                ' or exclude the path)', logger='current', level=30)
    owner.add_module(attr, new)
    if _enter_owner not in owner._forward_pre_hooks.values():
        owner.register_forward_pre_hook(_enter_owner)
        owner.register_forward_hook(_leave_owner, always_call=True)
    return Replacement(f'{path}.{attr}'.lstrip('.'), call,
                       rule.act_cfg['type'])


def swap_activations(model: nn.Module,
                     rules: Sequence[dict],
                     act_cfg: Optional[dict] = None) -> List[Replacement]:
    """Replace activations of a built model in place, by rules.

    Args:
        model: The model.
        rules: ``dict(replace=..., act_cfg=..., include=..., exclude=...)``
            (see :class:`SwapRule`); the first rule that covers an
            activation decides.
        act_cfg: The default new activation for rules without one.

    Returns:
        What was replaced, one entry per replaced module or call site.
    """
    parsed = parse_rules(rules, act_cfg)
    module_sites, function_sites, done = [], [], set()
    for path, owner in model.named_modules(remove_duplicate=False):
        for name, child in owner._modules.items():
            if child is None or (id(owner), name) in done:
                continue
            child_path = f'{path}.{name}'.lstrip('.')
            for rule in parsed:
                if rule.module_types and isinstance(
                        child, rule.module_types) and rule.covers(child_path):
                    module_sites.append((owner, path, name, child, rule))
                    done.add((id(owner), name))
                    break
        for rule in parsed:
            for call in rule.functions:
                if rule.covers(path) and _defining_classes(type(owner), call):
                    function_sites.append((owner, path, call, rule))
    replaced = [_swap_module(*site) for site in module_sites]
    for site in function_sites:
        replaced.append(_swap_function(*site))
    return [r for r in replaced if r is not None]


def summarize(replaced: Sequence[Replacement]) -> str:
    """Counts per (old → new) type and per top-level part of the model."""
    if not replaced:
        return 'ActivationSwap: nothing matched the rules'
    kinds, parts = Counter(), Counter()
    unused = [r.path for r in replaced if r.count == 0]
    replaced = [r for r in replaced if r.count > 0]
    for r in replaced:
        kinds[f'{r.old} -> {r.new}'] += r.count
        parts['.'.join(r.path.split('.')[:2])] += r.count
    lines = [f'ActivationSwap: {sum(kinds.values())} activations replaced']
    lines += [f'  {kind}: {n}' for kind, n in sorted(kinds.items())]
    lines.append('  where: ' + ', '.join(f'{p} {n}'
                                         for p, n in sorted(parts.items())))
    split = Counter(r.count for r in replaced if r.count > 1)
    if split:
        examples = [r.path for r in replaced if r.count > 1][:3]
        lines.append('  reused modules split into one activation per call: ' +
                     ', '.join(f'{n} x {c} calls' for c, n in split.items()) +
                     f' (e.g. {", ".join(examples)})')
    if unused:
        lines.append('  left in place, never called by their owner: ' +
                     ', '.join(unused))
    return '\n'.join(lines)


def activation_swap(model: dict,
                    rules: Sequence[dict],
                    act_cfg: Optional[dict] = None,
                    data_preprocessor: Optional[dict] = None) -> nn.Module:
    """Build ``model`` and swap its activations (registered as
    ``'ActivationSwap'``).

    Args:
        model: The model config (any codebase; the default scope decides).
        rules: Swap rules, see :func:`swap_activations`.
        act_cfg: The new activation for rules without their own.
        data_preprocessor: Passed on to the model config when it has none
            (mmengine's Runner fills it in for the top-level model).
    """
    if not isinstance(model, dict):
        raise ValueError(f'ActivationSwap: model must be a config dict, got '
                         f'{type(model).__name__}')
    parse_rules(rules, act_cfg)  # fail before the (slow) model build
    model = dict(model)
    if data_preprocessor is not None:
        model.setdefault('data_preprocessor', data_preprocessor)
    built = MODELS.build(model)
    replaced = swap_activations(built, rules, act_cfg)
    print_log(summarize(replaced), logger='current')
    return built


MODELS.register_module('ActivationSwap', module=activation_swap, force=True)

__all__ = ['SwapRule', 'parse_rules', 'swap_activations', 'summarize',
           'activation_swap', 'CallSiteActivation', 'probe_calls']
