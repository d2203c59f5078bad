"""Pictures of activation functions: curves and derivatives."""
import ast
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from .modules.channelwise import CHANNELS_LAST, ChannelwiseActivation
from .modules.ditac import VARIANT_CLASSES, decode_settings
from .registry import build_activation


def _pyplot():
    # Imported on use (the CLI's list command needs no matplotlib), with a
    # headless backend.
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def parse_spec(spec: str) -> Tuple[str, Dict]:
    """``'NAME'`` or ``'NAME:key=value,...'`` -> (name, kwargs).

    Values are Python literals, e.g. ``DiTAC:init='prior',a=-3``.
    """
    name, _, args = spec.partition(':')
    kwargs = {}
    if args:
        call = ast.parse(f'f({args})', mode='eval').body
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError(f'arguments of {spec!r} must be key=value pairs')
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    return name, kwargs


def curve(module: nn.Module,
          x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(f(x), f'(x)) of an activation on a 1-D grid ``x``.

    The grid is fed as N samples of one channel, so per-channel modules use
    their first channel; layer-level activations (LayerAct) see the whole
    grid as one sample, and f'(x) is then the diagonal of their Jacobian.
    """
    module = module.double().eval()
    if isinstance(module, ChannelwiseActivation) and not module.channels_known:
        module.set_channels(1, CHANNELS_LAST)
    shape = (1, -1) if not getattr(module, 'elementwise', True) else (-1, 1)
    x = x.detach().double().reshape(shape).requires_grad_(True)
    y = module(x)
    (dy, ) = torch.autograd.grad(y.sum(), x)
    return y.detach().flatten(), dy.flatten()


def plot_activations(specs: Sequence[str],
                     out: str,
                     x_range: Tuple[float, float] = (-4.0, 4.0),
                     points: int = 801) -> List[str]:
    """Draw activations and their derivatives side by side into ``out``.

    Args:
        specs: Names, optionally with arguments (see :func:`parse_spec`).
        out: Output image path (PNG, PDF, SVG by extension).
        x_range: Plotted input range.
        points: Grid points.

    Returns:
        The labels drawn, in order.
    """
    plt = _pyplot()

    x = torch.linspace(*x_range, points, dtype=torch.float64)
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(12, 4.8))
    labels = []
    colors = plt.cm.tab20.colors
    for k, spec in enumerate(specs):
        name, kwargs = parse_spec(spec)
        torch.manual_seed(0)  # random inits (e.g. priors) draw reproducibly
        y, dy = curve(build_activation(dict(type=name, **kwargs)), x)
        labels.append(spec)
        style = dict(color=colors[(2 * k) % 20 + (2 * k) // 20 % 2],
                     ls=('-', '--', ':')[k // 10 % 3], label=spec)
        ax_f.plot(x.numpy(), y.numpy(), **style)
        ax_d.plot(x.numpy(), dy.numpy(), **style)
    for ax, title in ((ax_f, 'f(x)'), (ax_d, "f'(x)")):
        ax.set_title(title)
        ax.axhline(0, color='0.7', lw=0.8)
        ax.axvline(0, color='0.7', lw=0.8)
        ax.grid(alpha=0.3)
        ax.set_xlabel('x')
    ax_f.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return labels


def plot_checkpoint_ditac(checkpoint: str, out: str,
                          x_range: Tuple[float, float] = (-3.0, 3.0),
                          points: int = 601) -> List[str]:
    """Draw every DiTAC layer learned in an mmengine (or plain state_dict)
    checkpoint, with GELU for reference. Returns the layer names."""
    plt = _pyplot()

    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state = state.get('state_dict', state)
    layers = [k[:-len('._extra_state')] for k in state
              if k.endswith('._extra_state') and k[:-len('_extra_state')] +
              'theta' in state]
    if not layers:
        raise ValueError(f'{checkpoint} holds no DiTAC layer')
    x = torch.linspace(*x_range, points, dtype=torch.float64)
    fig, (ax_f, ax_v) = plt.subplots(1, 2, figsize=(12, 4.8))
    cmap = plt.get_cmap('viridis')
    for k, name in enumerate(layers):
        extra = state[f'{name}._extra_state']
        if isinstance(extra, torch.Tensor):
            extra = decode_settings(extra)
        cls = VARIANT_CLASSES[extra['variant']]
        act = cls(a=extra['a'], b=extra['b'], num_cells=extra['num_cells'])
        act.load_state_dict({'theta': state[f'{name}.theta'],
                             '_extra_state': extra})
        y, _ = curve(act, x)
        color = cmap(k / max(1, len(layers) - 1))
        ax_f.plot(x.numpy(), y.numpy(), color=color, lw=1, label=name)
        u = torch.linspace(0, 1, 201)
        ax_v.plot(u.numpy(), act.velocity(u).numpy(), color=color, lw=1)
    ax_f.plot(x.numpy(), torch.nn.functional.gelu(x).numpy(), 'k--', lw=1.5,
              label='GELU')
    ax_f.set_title(f'learned DiTAC curves ({len(layers)} layers)')
    ax_v.set_title('CPA velocity fields v_θ(u) on Ω = [0, 1]')
    for ax in (ax_f, ax_v):
        ax.grid(alpha=0.3)
    if len(layers) <= 12:
        ax_f.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return layers
