"""Activation modules replaced by new ones.

Where one module object is called several times per forward of its owner
(ResNet's ``BasicBlock`` calls its ReLU twice, ``Bottleneck`` three times on
two channel counts, ``Shared2FCBBoxHead`` once per fc) and the new
activation has parameters, every call gets its own activation: a dry
forward of the owner records the calls and their channel counts, and a
:class:`CallSiteActivation` dispatches the k-th call of each owner forward
to the k-th activation.
"""
from typing import Sequence

import torch
import torch.nn as nn

from ...modules.channelwise import ChannelwiseActivation
from .probe import module_calls
from .rules import SwapRule, parametric
from .summary import Replacement


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


def swap_module(owner: nn.Module, path: str, name: str, old: nn.Module,
                rule: SwapRule) -> Replacement:
    """Replace ``owner.<name>`` (``old``) by the rule's activation."""
    new = rule.build(old)
    where = f'{path}.{name}'.lstrip('.')
    count = 1
    if parametric(new) or rule.calls:
        shapes = module_calls(owner, path, [old])[old]
        if not shapes:
            # e.g. RetinaHead.relu: built, never called. Parameters there
            # would get no gradient (and break DDP), so it stays.
            return Replacement(where, type(old).__name__, rule.new_type, 0)
        if rule.calls and rule.calls[-1] >= len(shapes):
            raise ValueError(
                f'ActivationSwap: {where} runs {len(shapes)} time(s) per '
                f'forward of its owner; calls={list(rule.calls)} names a '
                'call it does not make (narrow the rule with include)')
        chosen = rule.calls or range(len(shapes))
        if len(shapes) > 1:
            new = CallSiteActivation([
                rule.build(old, s) if k in chosen else old
                for k, s in enumerate(shapes)])
            if not any(h is _reset_call_sites
                       for h in owner._forward_pre_hooks.values()):
                owner.register_forward_pre_hook(_reset_call_sites)
            count = len(chosen)
        elif isinstance(new, ChannelwiseActivation) and \
                not new.channels_known:
            new = rule.build(old, shapes[0])
    setattr(owner, name, new)
    return Replacement(where, type(old).__name__, rule.new_type, count)


__all__ = ['CallSiteActivation', 'swap_module']
