"""End-to-end training step: GELU vs an mmact activation in UperNet.

Builds the UperNet + ConvNeXt-T model of the ADE20K configs
(``configs/convnext/``; no pretrained weights, BN for SyncBN) once per
activation, with ``backbone.act_cfg`` set to it (every ConvNeXt block), and
times forward + loss + backward + AdamW step on the same batch, side by side
in one run (the models take turns, step by step; the ratios are medians
over the rounds of each step's time over the first activation's step in
the same round). On CUDA it also reports the peak memory a step
allocates above the resident weights and optimizer state (activations,
gradients, workspace). ConvNeXt and UperNet need no compiled mmcv ops, so
this runs wherever mmseg imports.

    python benchmarks/bench_train_step.py --device cuda --size 512 --batch 2
    python benchmarks/bench_train_step.py --acts GELU DiTAC LA-SiLU --size 128
    python benchmarks/bench_train_step.py --acts GELU DiTAC GELU --size 128
    python benchmarks/bench_train_step.py --acts GELU DiTAC GELU --size 128 \
        --shared-model

``--shared-model`` times every activation in one model, the first
activation's: before each step its blocks get that activation's modules
(the others' built with a model of their own, which is then dropped), so
convolutions, weights and their memory are the same for all and the
ratios hold the activations' cost alone (two model instances with the
same activation differ by up to 8 % in a CPU step).
"""
import argparse
import statistics
import time
from pathlib import Path
from typing import Dict, Union

import torch
from mmengine.config import Config
from mmengine.structures import PixelData

import mmact  # noqa: F401  (registers the activations)
from mmact.openmmlab.presets import offline

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'
CONFIG = ROOT / 'configs/convnext/' \
    'convnext-tiny-gelu_upernet_8xb2-amp-160k_ade20k-512x512.py'


def build(config: str, act: Union[str, dict], device: str) -> torch.nn.Module:
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    model_cfg = offline(Config.fromfile(config).model)
    model_cfg.backbone.act_cfg = dict(type=act) if isinstance(act, str) \
        else act
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device).train()


def batch(n: int, size: int, classes: int, device: str):
    """Normalised images and segmentation samples with random labels."""
    from mmseg.structures import SegDataSample
    images = torch.randn(n, 3, size, size, device=device)
    samples = []
    for _ in range(n):
        labels = torch.randint(0, classes, (1, size, size), device=device)
        sample = SegDataSample(metainfo=dict(img_shape=(size, size),
                                             pad_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return images, samples


def activation_modules(model: torch.nn.Module,
                       host: torch.nn.Module) -> Dict[str, torch.nn.Module]:
    """The modules of ``model`` whose class differs from ``host``'s at the
    same path (its activations, built from another ``act_cfg``), by path;
    their own submodules not listed apart."""
    host_modules = dict(host.named_modules())
    found: Dict[str, torch.nn.Module] = {}
    for path, module in model.named_modules():
        if path in host_modules and not any(
                path.startswith(f'{p}.') for p in found) \
                and type(module) is not type(host_modules[path]):
            found[path] = module
    return found


def step(model, optimizer, images, samples, device) -> tuple:
    """(ms, peak MiB the step allocates above what was resident; nan on
    CPU) of forward + loss + backward + optimizer step."""
    cuda = device == 'cuda'
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        resident = torch.cuda.memory_allocated()
    start = time.perf_counter()
    loss, _ = model.parse_losses(model.loss(images, samples))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1e3
    peak = (torch.cuda.max_memory_allocated() - resident) / 2**20 if cuda \
        else float('nan')
    return ms, peak


def _use(host, model):
    """The model to step: ``model`` itself, or the host with ``model``'s
    activation modules (path -> module) put in."""
    if host is None:
        return model
    for path, module in model.items():
        host.set_submodule(path, module)
    return host


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--acts', nargs='+', default=['GELU', 'DiTAC'])
    parser.add_argument('--config', default=str(CONFIG))
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--out', default=str(RESULTS),
                        help='folder of train_step_<device>_<size>.md')
    parser.add_argument('--shared-model', action='store_true',
                        help='one model; the activations swapped in turn')
    args = parser.parse_args()
    for act in args.acts:
        mmact.get_activation(act)  # fail early, with suggestions
    torch.manual_seed(0)
    images, samples = batch(args.batch, args.size, 150, args.device)
    runs = {}
    for act in args.acts:
        # A name given twice is a second model (e.g. GELU again: the
        # spread between the two is the run's noise floor).
        label = act if act not in runs else f'{act} #{len(runs) + 1}'
        runs[label] = [build(args.config, act, args.device), None, []]
    host = None
    if args.shared_model:
        host = next(iter(runs.values()))[0]
        paths = {p for model, _, _ in runs.values()
                 for p in activation_modules(model, host)}
        if not paths:
            parser.error('--shared-model compares different activations')
        for run in runs.values():
            modules = dict(run[0].named_modules())
            run[0] = {p: modules[p] for p in sorted(paths)}
        # The host holds the first activation's modules: each once.
        params = {id(p): p for modules, _, _ in runs.values()
                  for m in modules.values() for p in m.parameters()}
        params.update((id(p), p) for p in host.parameters())
        shared = torch.optim.AdamW(list(params.values()), lr=1e-4)
    for run in runs.values():
        run[1] = shared if host is not None else torch.optim.AdamW(
            run[0].parameters(), lr=1e-4)
        step(_use(host, run[0]), run[1], images, samples,
             args.device)  # warm-up
    # Round-robin, each round starting one later (no activation always
    # follows the same one); the ratios are medians over the rounds of
    # the step time over the first activation's in the same round, so the
    # machine's slower and faster phases cancel.
    order = list(runs.values())
    for i in range(args.steps):
        for model, optimizer, results in order[i % len(order):] \
                + order[:i % len(order)]:
            results.append(step(_use(host, model), optimizer, images,
                                samples, args.device))
    base = [ms for ms, _ in order[0][2]]
    rows = []
    for act, (_, _, results) in runs.items():
        rows.append((act, statistics.median(ms for ms, _ in results),
                     statistics.median(ms / b for (ms, _), b
                                       in zip(results, base)),
                     max(peak for _, peak in results)))
        print(f'{act:>10}: {rows[-1][1]:9.1f} ms/step (x{rows[-1][2]:.3f}),'
              f' step peak {rows[-1][3]:.0f} MiB', flush=True)
    base_mem = rows[0][3]
    name = (torch.cuda.get_device_name() if args.device == 'cuda' else
            f'CPU, {torch.get_num_threads()} threads') + (
                ', one model, activations swapped in turn'
                if args.shared_model else '')
    lines = [f'UperNet + ConvNeXt-T train step ({Path(args.config).name}), '
             f'{args.batch}x3x{args.size}x{args.size}, {name}', '',
             f'| activation | ms/step | vs {rows[0][0]} (per round) | '
             f'step peak MiB | '
             f'vs {rows[0][0]} |', '|---|---|---|---|---|']
    lines += [f'| {a} | {t:.1f} | {r:.3f} | {m:.0f} | '
              f'{m / base_mem:.3f} |' for a, t, r, m in rows]
    out = Path(args.out) / f'train_step_{args.device}_{args.size}.md'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
