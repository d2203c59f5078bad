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

The parts: :mod:`.rules` (what a rule names), :mod:`.module_swap`
(activation modules), :mod:`.fused` (fused bias-activations: StyleGAN2),
:mod:`.functional` (function calls, intercepted in their owner's forward),
:mod:`.probe` (build-time dry forwards), :mod:`.summary` (the log).
"""
from typing import Dict, List, Optional, Sequence

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.registry import MODELS

from ...modules.channelwise import ChannelwiseActivation
from .functional import (ANY_SITE, Call, install_frames, install_sites,
                         may_call, record_calls)
from .fused import (BiasedActivation, fused_type, is_fused_partial,
                    swap_fused)
from .module_swap import CallSiteActivation, swap_module
from .rules import FUNCTION_NAMES, SwapRule, parametric, parse_rules
from .summary import Replacement, summarize


def _channels(shape) -> int:
    return shape[-1] if len(shape) == 3 else shape[1]


def _site_activations(rule: SwapRule, path: str,
                      sites: Dict[object, List[Call]]) -> Dict[object,
                                                               nn.Module]:
    first = rule.build()
    if not parametric(first):
        return {ANY_SITE: first}
    acts = {}
    for key, calls in sites.items():
        if isinstance(first, ChannelwiseActivation) and first.per_channel:
            channels = {_channels(c.shape) for c in calls}
            if len(channels) > 1:
                raise ValueError(
                    f'ActivationSwap: {calls[0].spelling.name} in '
                    f'{path or "the model"} ({key[1]}) runs on '
                    f'{sorted(channels)} channels; one per-channel '
                    f'{rule.new_type} cannot serve them all (use a shared '
                    'parameter or leave the path out of the rule)')
        acts[key] = rule.build(None, calls[0].shape)
    return acts


def swap_functions(owner: nn.Module, path: str,
                   rules: Dict[str, SwapRule]) -> List[Replacement]:
    """Replace the activation functions (family -> rule) that a dry forward
    shows ``owner`` calling in its own code."""
    calls = record_calls(owner, path, tuple(rules))
    replaced = []
    for family, rule in rules.items():
        sites: Dict[object, List[Call]] = {}
        for call in calls:
            if call.spelling.family == family:
                sites.setdefault(call.site, []).append(call)
        if not sites:
            continue  # this configuration never makes the call
        names = install_sites(owner, family,
                              _site_activations(rule, path, sites))
        for key, attr in names.items():
            seen = [c for cs in sites.values() for c in cs] \
                if key == ANY_SITE else sites[key]
            replaced.append(Replacement(
                f'{path}.{attr}'.lstrip('.'),
                '/'.join(dict.fromkeys(c.spelling.name for c in seen)),
                rule.new_type, len(sites) if key == ANY_SITE else 1,
                inplace=any(c.inplace for c in seen),
                unused=tuple(dict.fromkeys(f'{k}={v}' for c in seen
                                           for k, v in c.unused))))
    return replaced


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
    module_sites, owners, done, seen = [], [], set(), set()
    fused_rules = [rule for rule in parsed if rule.replaces_fused]
    fused_sites = []
    for path, owner in model.named_modules(remove_duplicate=False):
        rule = next((r for r in fused_rules if r.covers(path)), None)
        for name, value in vars(owner).items() if rule else ():
            if is_fused_partial(value) and (id(owner), name) not in done:
                fused_sites.append((owner, path, name, value, rule))
                done.add((id(owner), name))
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
        families: Dict[str, SwapRule] = {}
        for rule in parsed:
            if rule.covers(path):
                for family in rule.families:
                    families.setdefault(family, rule)
        if families and id(owner) not in seen and may_call(
                type(owner), tuple(families)):
            owners.append((owner, path, families))
            seen.add(id(owner))
    replaced = [swap_fused(*site) if site[4].replaces_fused
                and isinstance(site[3], fused_type()) else swap_module(*site)
                for site in module_sites]
    replaced += [swap_fused(*site) for site in fused_sites]
    for owner, path, families in owners:
        replaced += swap_functions(owner, path, families)
    install_frames([owner for owner, _, _ in owners
                    if owner.__dict__.get('_mmact_functional')])
    return replaced


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


MODELS.register_module('ActivationSwap', module=activation_swap)

__all__ = ['SwapRule', 'parse_rules', 'swap_activations', 'summarize',
           'activation_swap', 'BiasedActivation', 'CallSiteActivation',
           'Replacement', 'FUNCTION_NAMES']
