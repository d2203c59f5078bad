"""Parameters, FLOPs and batch-1 latency of a config next to its baseline.

    python tools/complexity.py CONFIG [--baseline CONFIG] [--shape H W]
        [--device cpu|cuda] [--repeats 20] [--out report.md]

The baseline defaults to the root of CONFIG's chain of local ``_base_``
files (``pspnet_r50-d8-ditac_...`` -> ``pspnet_r50-d8-relu_...``); a config
without one is reported alone. Models are built from their configs
(pretrained downloads off, SyncBN as BN) and run in eval mode on one random
image through ``forward(mode='tensor')`` — the network without pre- or
post-processing — for the seg, det and cls families.

- Parameters and FLOPs: mmengine's analysis tools (``parameter_count``,
  ``FlopAnalyzer``; one multiply-add counts as one FLOP). Like fvcore, they
  count convolutions, matmuls and normalisations and no element-wise op: no
  built-in activation (GELU, ReLU) and no mmact op adds FLOPs there.
- Activations are counted apart, honestly and alike for both configs:
  *activation elements* (every value that passes through an activation
  module) and *table lookups* (the elements that go through a DiTAC op: each
  reads two adjacent entries of its table — base and step — and does one
  multiply-add, besides the base function's Φ where the variant has one).
  DiTAC's table is built once per θ (after each optimizer step), not per
  inference: the model runs once before analysis so that the tables are
  built and cached, as in deployment.
- Latency: median wall time of ``--repeats`` forwards at batch 1 after a
  warm-up (CUDA synchronised), in ms.
"""
import argparse
import ast
import os.path as osp
import statistics
import time
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

import mmact  # noqa: F401  (registers the activations)
from mmact.modules.ditac import DiTACBase
from mmact.openmmlab.presets import offline
from mmact.registry import get_activation, list_activations


def local_bases(config: str) -> List[str]:
    """The local ``_base_`` files of ``config`` (not ``pkg::...``)."""
    tree = ast.parse(open(config).read(), config)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in node.targets):
            bases = ast.literal_eval(node.value)
            bases = [bases] if isinstance(bases, str) else bases
            return [osp.normpath(osp.join(osp.dirname(config), b))
                    for b in bases if '::' not in b]
    return []


def baseline_of(config: str) -> Optional[str]:
    """The root of ``config``'s chain of local bases (None: it is one)."""
    def variants(path):  # configs/_base_/ holds fragments, not models
        return [b for b in local_bases(path) if '/_base_/' not in b]

    root, bases = None, variants(config)
    while bases:
        root = bases[0]
        bases = variants(root)
    return root


def build_model(config: str) -> nn.Module:
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope'))
    model = MODELS.build(offline(cfg.model))
    return model.eval()


def _activation_types() -> tuple:
    return tuple({get_activation(i.name) for i in list_activations()})


def measure(config: str, shape, device: str, repeats: int) -> Dict[str, float]:
    """Parameters, FLOPs, activation elements, table lookups, latency."""
    model = build_model(config).to(device)
    x = torch.randn(1, 3, *shape, device=device)
    counts = {'elements': 0, 'lookups': 0}
    acts = _activation_types()

    def count(module, inputs, output):
        n = inputs[0].numel()
        counts['elements'] += n
        if isinstance(module, DiTACBase):
            counts['lookups'] += n

    with torch.no_grad():
        model(x)  # builds DiTAC's tables once, as before deployment
        hooks = [m.register_forward_hook(count) for m in model.modules()
                 if isinstance(m, acts)]
        model(x)
        for h in hooks:
            h.remove()
        flops = FlopAnalyzer(model, (x, ))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        total_flops = flops.total()
        for _ in range(3):
            model(x)
        times = []
        for _ in range(repeats):
            if device == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device == 'cuda':
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return dict(params=parameter_count(model)[''], flops=total_flops,
                elements=counts['elements'], lookups=counts['lookups'],
                latency_ms=1e3 * statistics.median(times))


# key, label, format
ROWS = (('params', 'Parameters', '{:.0f}'),
        ('flops', 'FLOPs (G)', '{:.4g}'),
        ('elements', 'Activation elements (M)', '{:.4g}'),
        ('lookups', 'DiTAC table lookups (M)', '{:.4g}'),
        ('latency_ms', 'Latency, batch 1 (ms)', '{:.4g}'))
SCALES = {'flops': 1e-9, 'elements': 1e-6, 'lookups': 1e-6}


def report(results: Dict[str, Dict[str, float]], header: str) -> str:
    """A Markdown table, one column per config and, for two, the ratio."""
    names = list(results)
    cols = [osp.splitext(osp.basename(n))[0] for n in names]
    lines = [header, '',
             '| | ' + ' | '.join(cols) + (' | ratio |' if len(names) == 2
                                            else ' |'),
             '|---' * (len(names) + 1 + (len(names) == 2)) + '|']
    for key, label, fmt in ROWS:
        values = [results[n][key] for n in names]
        scale = SCALES.get(key, 1.0)
        row = f'| {label} | ' + ' | '.join(fmt.format(v * scale)
                                             for v in values)
        if len(names) == 2:
            ratio = values[0] / values[1] if values[1] else float('nan')
            row += f' | {ratio:.3f}' if values[1] else ' | -'
        lines.append(row + ' |')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--baseline', help='default: the root of the '
                        "config's local _base_ chain")
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 512),
                        metavar=('H', 'W'))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--out', help='also write the table here')
    args = parser.parse_args()
    configs = [args.config]
    baseline = args.baseline or baseline_of(args.config)
    if baseline:
        configs.append(baseline)
    results = {c: measure(c, args.shape, args.device, args.repeats)
               for c in configs}
    device = torch.cuda.get_device_name() if args.device == 'cuda' else \
        f'CPU, {torch.get_num_threads()} threads'
    table = report(results, f'Input 1x3x{args.shape[0]}x{args.shape[1]}, '
                   f'{device}; ratio = config / baseline.')
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
