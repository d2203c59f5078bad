"""Build-time dry forwards: which activations a module really calls, how
often and on which shapes.

The swap runs an owner once in eval mode without gradients on small random
inputs that its first layers accept, with its training flags, parameters
and buffers left as they were.
"""
from typing import Callable, Dict, Iterator, List, Sequence

import torch
import torch.nn as nn
from torch.nn.modules.conv import _ConvNd


def probe_inputs(owner: nn.Module) -> Iterator[object]:
    """Small random inputs that the owner's first layers accept (a tuple of
    maps for OpenMMLab necks, whose ``in_channels`` is a list; a noise
    batch for mmagic generators, which have a ``noise_size``)."""
    generator = torch.Generator().manual_seed(0)
    param = next(owner.parameters(), torch.empty(0))
    noise_size = getattr(owner, 'noise_size', None)
    if isinstance(noise_size, int):
        yield torch.randn((2, noise_size), generator=generator).to(
            param.device, param.dtype)
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
    if not tried:
        # No layer to shape an input: an activation-like module that takes
        # any map or vector.
        yield torch.randn((1, 4, 8, 8), generator=generator)
        yield torch.randn((1, 8), generator=generator)


@torch.no_grad()
def dry_forward(owner: nn.Module, path: str,
                before_each: Callable[[], None] = lambda: None) -> None:
    """Run ``owner`` once on the first probe input it accepts.

    Args:
        owner: The module.
        path: Its path in the model, for the error message.
        before_each: Called before every attempt (to reset recordings of a
            failed one).

    Raises:
        RuntimeError: no probe input ran, naming the path and the error.
    """
    modes = {m: m.training for m in owner.modules()}
    buffers = {name: b.clone() for name, b in owner.named_buffers()}
    owner.eval()
    errors: List[str] = []
    try:
        for inputs in probe_inputs(owner):
            before_each()
            try:
                owner(inputs)
                return
            except Exception as exc:  # noqa: BLE001  (try the next input)
                errors.append(f'{type(exc).__name__}: {exc}')
    finally:
        for module, mode in modes.items():
            module.training = mode
        for name, b in owner.named_buffers():
            b.copy_(buffers[name])
    raise RuntimeError(
        f'ActivationSwap: cannot dry-run {path or "the model"} '
        f'({type(owner).__name__}) to see which activations it calls: '
        + ('; '.join(dict.fromkeys(errors)) or 'no conv or linear layer to '
           'shape an input') + '. Leave it out of the rule (include / '
        'exclude) or replace its activations through its act_cfg')


def module_calls(owner: nn.Module, path: str, watched: Sequence[nn.Module]
                 ) -> Dict[nn.Module, List[torch.Size]]:
    """Input shapes of every call of the ``watched`` modules during one dry
    forward of ``owner``."""
    calls: Dict[nn.Module, List[torch.Size]] = {m: [] for m in watched}

    def record(module, args):
        calls[module].append(args[0].shape)

    def reset():
        for found in calls.values():
            found.clear()

    handles = [m.register_forward_pre_hook(record) for m in watched]
    try:
        dry_forward(owner, path, reset)
    finally:
        for handle in handles:
            handle.remove()
    return calls


__all__ = ['probe_inputs', 'dry_forward', 'module_calls']
