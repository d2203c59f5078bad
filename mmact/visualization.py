"""Pictures of activation functions: curves and derivatives."""
import ast
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from .modules.channelwise import CHANNELS_LAST, ChannelwiseActivation
from .modules.ditac import VARIANT_CLASSES, decode_settings
from .registry import build_activation


def pyplot():
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
    plt = pyplot()

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


def _ditac_layers(state: Dict) -> Dict[str, nn.Module]:
    layers = {}
    for key, extra in state.items():
        name = key[:-len('._extra_state')]
        if not key.endswith('._extra_state') or name + '.theta' not in state:
            continue
        if isinstance(extra, torch.Tensor):
            extra = decode_settings(extra)
        act = VARIANT_CLASSES[extra['variant']](
            a=extra['a'], b=extra['b'], num_cells=extra['num_cells'])
        act.load_state_dict({'theta': state[f'{name}.theta'],
                             '_extra_state': extra})
        layers[name] = act
    return layers


def _channel_layers(state: Dict, names: Tuple[str, ...],
                    act_cfg: Dict) -> Dict[str, nn.Module]:
    """Layers holding exactly the per-channel parameters ``names`` (ACON-C:
    p1, p2, beta; PDELU: alpha), rebuilt as ``act_cfg``."""
    layers = {}
    for key in state:
        name = key.rsplit('.', 1)[0]
        if not key.endswith('.' + names[0]) or name in layers:
            continue
        params = {n: state.get(f'{name}.{n}') for n in names}
        others = [k for k in state if k.startswith(name + '.')
                  and k[len(name) + 1:] not in names]
        if any(v is None or v.ndim != 1 for v in params.values()) or others:
            continue  # e.g. Meta-ACON (its β comes from a generator)
        act = build_activation(dict(act_cfg,
                                    num_channels=len(params[names[0]])))
        act.load_state_dict(params)
        layers[name] = act
    return layers


def _channel_median_curve(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The median over channels of a per-channel activation's curves."""
    act = act.double().eval()
    with torch.no_grad():
        y = act(x[:, None].expand(-1, act.num_channels).contiguous())
    return y.median(dim=1).values


def plot_checkpoint(checkpoint: str, out: str,
                    x_range: Tuple[float, float] = (-3.0, 3.0),
                    points: int = 601,
                    trust: bool = False) -> Dict[str, List[str]]:
    """Draw the learned activations of an mmengine (or plain state_dict)
    checkpoint: DiTAC curves per layer and their CPA velocity fields,
    ACON-C and PDELU curves per layer (median over channels), with GELU /
    ReLU for reference. Returns the layer names per family.

    PDELU's ``t`` is not a parameter and not in checkpoints: the curves
    assume the default 0.9. The checkpoint loads with ``weights_only=True``
    unless ``trust`` (see :mod:`mmact.openmmlab.checkpoint`).
    """
    from .openmmlab.checkpoint import load_checkpoint_file
    plt = pyplot()
    state = load_checkpoint_file(checkpoint, 'cpu', trust)
    state = state.get('state_dict', state)
    families = {
        'DiTAC': _ditac_layers(state),
        'ACON-C': _channel_layers(state, ('p1', 'p2', 'beta'),
                                  dict(type='ACON-C')),
        'PDELU': _channel_layers(state, ('alpha', ), dict(type='PDELU')),
    }
    families = {k: v for k, v in families.items() if v}
    if not families:
        raise ValueError(f'{checkpoint} holds no DiTAC, ACON-C or PDELU '
                         'layer')
    panels = sum(2 if f == 'DiTAC' else 1 for f in families)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.8),
                             squeeze=False)
    axes = iter(axes[0])
    x = torch.linspace(*x_range, points, dtype=torch.float64)
    cmap = plt.get_cmap('viridis')
    for family, layers in families.items():
        ax_f = next(axes)
        ax_v = next(axes) if family == 'DiTAC' else None
        for k, (name, act) in enumerate(layers.items()):
            color = cmap(k / max(1, len(layers) - 1))
            y = curve(act, x)[0] if family == 'DiTAC' else \
                _channel_median_curve(act, x)
            ax_f.plot(x.numpy(), y.numpy(), color=color, lw=1, label=name)
            if ax_v is not None:
                u = torch.linspace(0, 1, 201)
                ax_v.plot(u.numpy(), act.velocity(u).numpy(), color=color,
                          lw=1)
        ref = 'GELU' if family == 'DiTAC' else 'ReLU'
        ref_y = torch.nn.functional.gelu(x) if ref == 'GELU' else x.relu()
        ref_line, = ax_f.plot(x.numpy(), ref_y.numpy(), 'k--', lw=1.5,
                              label=f'{ref} (reference)')
        median = '' if family == 'DiTAC' else ', median over channels'
        ax_f.set_title(f'learned {family} curves ({len(layers)} layers'
                       f'{median})')
        ax_f.set_xlabel('input x')
        ax_f.set_ylabel('output y')
        if len(layers) <= 12:
            ax_f.legend(fontsize=6)
        else:  # too many layers to name: the colour runs with depth
            lines = ax_f.get_lines()
            lines[0].set_label(f'first layer ({lines[0].get_label()})')
            lines[-2].set_label(f'last layer ({lines[-2].get_label()})')
            ax_f.legend(handles=[lines[0], lines[-2], ref_line], fontsize=7,
                        title='colour: layer depth', title_fontsize=7)
        if ax_v is not None:
            ax_v.set_title('DiTAC: CPA velocity fields v_θ(u) on [0, 1]')
            ax_v.set_xlabel('u (position in the window [a, b], scaled '
                            'to [0, 1])')
            ax_v.set_ylabel('velocity v_θ(u)')
    for ax in fig.axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return {family: list(layers) for family, layers in families.items()}


def activation_types() -> Tuple[type, ...]:
    """Every class registered under an activation name."""
    from .registry import get_activation, list_activations
    return tuple({get_activation(i.name) for i in list_activations()})


class InputHistograms:
    """Histograms of what each activation module of a model receives.

    Use as a context manager around forward passes; ``counts[name]`` holds
    ``bins`` counts over ``x_range`` plus the counts below and above it.

    Args:
        model: Any model; its activation modules are found by type.
        bins: Histogram bins.
        x_range: Histogram range.
    """

    def __init__(self, model: nn.Module, bins: int = 120,
                 x_range: Tuple[float, float] = (-6.0, 6.0)) -> None:
        self.bins, self.x_range = bins, x_range
        kinds = activation_types()
        self.modules = {name: m for name, m in model.named_modules()
                        if isinstance(m, kinds)}
        self.counts: Dict[str, torch.Tensor] = {}
        self._handles = []

    def _record(self, name: str):
        def hook(module, args):
            x = args[0].detach().float().flatten().cpu()
            low, high = self.x_range
            counts = torch.cat([
                torch.histc(x, self.bins, low, high),
                torch.tensor([(x < low).sum(), (x > high).sum()],
                             dtype=torch.float32)])
            self.counts[name] = self.counts.get(name, 0) + counts
        return hook

    def __enter__(self) -> 'InputHistograms':
        self._handles = [m.register_forward_pre_hook(self._record(n))
                         for n, m in self.modules.items()]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()

    def plot(self, out: str, max_layers: int = 16) -> List[str]:
        """One panel per layer (evenly chosen when there are more than
        ``max_layers``); DiTAC layers show their window [a, b] and the share
        of inputs inside it. Returns the layers drawn."""
        plt = pyplot()
        names = list(self.counts)
        if not names:
            raise ValueError('no activation module was called')
        if len(names) > max_layers:
            step = (len(names) - 1) / (max_layers - 1)
            names = [names[round(i * step)] for i in range(max_layers)]
        cols = min(4, len(names))
        rows = -(-len(names) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows),
                                 squeeze=False)
        low, high = self.x_range
        edges = torch.linspace(low, high, self.bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        for ax, name in zip(axes.flat, names):
            counts = self.counts[name]
            total = counts.sum().item()
            ax.bar(centres.numpy(), (counts[:-2] / total).numpy(),
                   width=(high - low) / self.bins, color='tab:blue')
            module = self.modules[name]
            title = f'{name} ({type(module).__name__})'
            window = getattr(module, 'a', None), getattr(module, 'b', None)
            if isinstance(window[0], float) and isinstance(window[1], float):
                inside = counts[:-2][(centres >= window[0]) &
                                     (centres <= window[1])].sum() / total
                ax.axvspan(*window, color='tab:orange', alpha=0.2)
                title += f'\n{100 * inside:.0f} % in [a, b]'
            outside = counts[-2:].sum().item() / total
            if outside:
                title += f', {100 * outside:.1f} % beyond ±{high:g}'
            ax.set_title(title, fontsize=7)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[len(names):]:
            ax.axis('off')
        fig.tight_layout()
        fig.savefig(out, dpi=110)
        plt.close(fig)
        return names
