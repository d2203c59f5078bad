"""Functional activations swapped inside one module's own forward.

An *owner* is a module whose own code calls an activation function
(``F.relu(x)`` in mmdet's ``RPNHead``, ``torch.tanh`` in BigGAN's
generator). While the owner's forward runs, a
:class:`torch.overrides.TorchFunctionMode` (entered by a forward pre-hook,
left by an always-called forward hook) sees every torch function call and
sends the swapped ones to the owner's new activation; every other call,
and every call made inside the owner's children (their hooks mark the
frame), runs unchanged. Nothing outside the model is modified, so the
swapped model pickles whole, deep-copies, compiles and runs under DDP like
any module.

Each call site (the source line that makes the call) of a parametric
replacement gets its own activation, registered on the owner as
``swapped_<function>`` (``_2``, ``_3``, ... for further sites); a
replacement without parameters is one module shared by the owner's sites.
"""
import ast
import builtins
import inspect
import sys
import textwrap
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from .probe import dry_forward
from .rules import METHOD_NAMES, Spelling, spelling_of

ANY_SITE = '*'
SiteKey = Tuple[str, str, int]



class _Frames(threading.local):
    """Per thread: the running owners and children, innermost last, as
    (owner, its entered mode), or (None, None) for a running child."""

    def __init__(self) -> None:
        self.stack: List[Tuple[Optional[nn.Module],
                               Optional[TorchFunctionMode]]] = []


_FRAMES = _Frames()


def site_key() -> SiteKey:
    """Where the intercepted call was written: the module, function and
    line (relative to the function, so installs in other places agree) of
    the first caller frame outside torch and this file."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get('__name__', '')
        if not (module == __name__ or module == 'torch'
                or module.startswith('torch.')):
            code = frame.f_code
            return (module, code.co_qualname,
                    frame.f_lineno - code.co_firstlineno)
        frame = frame.f_back
    return ('', '', 0)


@dataclass(frozen=True)
class Call:
    """One intercepted call, as the probe records it."""
    site: SiteKey
    spelling: Spelling
    shape: torch.Size
    inplace: bool
    unused: Tuple[Tuple[str, str], ...]  # (argument, repr) not honoured


def _bind(spelling: Spelling, args: tuple,
          kwargs: dict) -> Tuple[torch.Tensor, bool, Any, tuple]:
    """(input, in place?, out, unused arguments) of one call."""
    bound = dict(zip(spelling.params, args[1:]))
    bound.update((k, v) for k, v in kwargs.items() if k != 'input')
    x = args[0] if args else kwargs['input']
    inplace = spelling.inplace or bool(bound.get('inplace', False))
    unused = tuple((k, repr(v)) for k, v in bound.items()
                   if k not in ('inplace', 'out'))
    return x, inplace, bound.get('out'), unused


class FunctionalSwapMode(TorchFunctionMode):
    """Routes the owner's own activation calls to its new activations."""

    def __init__(self, owner: nn.Module) -> None:
        super().__init__()
        self.owner = owner

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        spelling = spelling_of(func)
        if spelling is None or _FRAMES.stack[-1][0] is not self.owner:
            return func(*args, **kwargs)
        x, inplace, out, unused = _bind(spelling, args, kwargs)
        probe = self.owner.__dict__.get('_mmact_probe')
        if probe is not None:
            if spelling.family in probe['families']:
                probe['calls'].append(
                    Call(site_key(), spelling, x.shape, inplace, unused))
            return func(*args, **kwargs)
        sites = self.owner._mmact_functional.get(spelling.family)
        if sites is None:
            return func(*args, **kwargs)
        attr = sites.get(ANY_SITE)
        if attr is None:
            key = site_key()
            attr = sites.get(key)
            if attr is None:
                raise RuntimeError(
                    f'ActivationSwap: {spelling.name} called at {key[0]} '
                    f'{key[1]} (+{key[2]} lines) in '
                    f'{type(self.owner).__name__} was not run by the '
                    'build-time probe (eval mode), so it has no activation '
                    'of its own; exclude this module from the rule or '
                    'use a replacement without parameters')
        act = getattr(self.owner, attr)
        if not inplace and out is None:
            return act(x)
        if inplace:
            # The replacement may save its input for the backward, which
            # the write would overwrite: it reads a copy.
            y = act(x.clone() if x.requires_grad and
                    torch.is_grad_enabled() else x)
            return x.copy_(y)
        return out.copy_(act(x))


def _enter_owner(owner: nn.Module, args) -> None:
    mode = FunctionalSwapMode(owner)
    mode.__enter__()
    _FRAMES.stack.append((owner, mode))


def _leave_owner(owner: nn.Module, args, output) -> None:
    _FRAMES.stack.pop()[1].__exit__(None, None, None)


def _enter_child(child: nn.Module, args) -> None:
    _FRAMES.stack.append((None, None))


def _leave_child(child: nn.Module, args, output) -> None:
    _FRAMES.stack.pop()


def _has_hook(hooks: Dict[int, Any], fn) -> bool:
    return any(h is fn for h in hooks.values())


def install_frames(owners: Sequence[nn.Module]) -> List[Any]:
    """Owner hooks on ``owners``, child hooks on every other module below
    them; returns the new hook handles."""
    handles = []
    ids = {id(o) for o in owners}
    for owner in owners:
        if not _has_hook(owner._forward_pre_hooks, _enter_owner):
            handles.append(owner.register_forward_pre_hook(_enter_owner))
            handles.append(owner.register_forward_hook(_leave_owner,
                                                       always_call=True))
    for owner in owners:
        for module in owner.modules():
            if id(module) in ids or _has_hook(module._forward_pre_hooks,
                                              _enter_child):
                continue
            handles.append(module.register_forward_pre_hook(_enter_child))
            handles.append(module.register_forward_hook(_leave_child,
                                                        always_call=True))
    return handles


def _resolve(node: ast.expr, namespace: Dict[str, Any]) -> Any:
    """The object a dotted name (``nnf.relu``, ``torch.nn.functional.relu``)
    refers to in a module namespace, or ``None``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    obj = namespace.get(node.id, getattr(builtins, node.id, None))
    for part in reversed(parts):
        obj = getattr(obj, part, None)
    return obj


def _may_call(node: ast.Call, namespace: Dict[str, Any],
              families: Sequence[str]) -> bool:
    spelling = spelling_of(_resolve(node.func, namespace))
    if spelling is not None:
        return spelling.family in families
    func = node.func
    # x.relu(), y.sigmoid_(): a Tensor method on something that is not
    # ``self`` (``self.relu(x)`` calls a submodule) nor a module global.
    if isinstance(func, ast.Attribute) and METHOD_NAMES.get(
            func.attr) in families:
        receiver = func.value
        return not (isinstance(receiver, ast.Name) and (
            receiver.id in ('self', 'cls') or receiver.id in namespace))
    return False


def may_call(cls: type, families: Sequence[str]) -> bool:
    """Whether the source of ``cls`` (or a base class outside torch and
    mmengine) contains a call that may be one of ``families``."""
    for klass in cls.__mro__:
        if klass.__module__.split('.')[0] in ('torch', 'mmengine',
                                              'builtins'):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        namespace = vars(sys.modules[klass.__module__])
        if any(isinstance(node, ast.Call) and _may_call(node, namespace,
                                                        families)
               for node in ast.walk(tree)):
            return True
    return False


def record_calls(owner: nn.Module, path: str,
                 families: Sequence[str]) -> List[Call]:
    """The calls of ``families`` that one dry forward of ``owner`` makes in
    its own code (not in its children).

    Raises:
        RuntimeError: no probe input ran the owner (naming its path).
    """
    probe: Dict[str, Any] = dict(families=tuple(families), calls=[])
    handles = install_frames([owner])
    owner.__dict__['_mmact_probe'] = probe
    try:
        dry_forward(owner, path, before_each=probe['calls'].clear)
    finally:
        del owner.__dict__['_mmact_probe']
        for handle in handles:
            handle.remove()
    return probe['calls']


def install_sites(owner: nn.Module, family: str,
                  sites: Dict[Any, nn.Module]) -> Dict[Any, str]:
    """Register the new activations of one function on ``owner``
    (``sites``: call site or :data:`ANY_SITE` -> activation); returns the
    attribute name per site."""
    table = owner.__dict__.setdefault('_mmact_functional', {})
    names = {}
    for i, (key, act) in enumerate(sites.items()):
        attr = f'swapped_{family}' + (f'_{i + 1}' if i else '')
        owner.add_module(attr, act)
        names[key] = attr
    table[family] = names
    return names


__all__ = ['FunctionalSwapMode', 'Call', 'ANY_SITE', 'may_call',
           'record_calls', 'install_sites', 'install_frames', 'site_key']
