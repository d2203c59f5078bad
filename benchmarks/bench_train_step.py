"""End-to-end training step: GELU vs an mmact activation in a real backbone.

Builds mmpretrain's ConvNeXt-T (the UperNet backbone of the ADE20K configs)
once per activation, with a 1x1-conv segmentation-style head, and times
forward + backward + AdamW step on the same batch, side by side in one run.
On CUDA it also reports peak memory. ConvNeXt needs no compiled mmcv ops,
so this runs wherever mmpretrain imports (the GPU machine included).

    python benchmarks/bench_train_step.py --device cuda --size 512 --batch 2
    python benchmarks/bench_train_step.py --acts GELU DiTAC LA-SiLU --size 128
"""
import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import mmact  # noqa: F401  (registers the activations)

RESULTS = Path(__file__).resolve().parent / 'results'


def build(act: str, device: str) -> nn.Module:
    from mmpretrain.models.backbones import ConvNeXt
    backbone = ConvNeXt(arch='tiny', act_cfg=dict(type=act),
                        out_indices=(3, ), gap_before_final_norm=False)
    head = nn.Conv2d(768, 150, 1)
    return nn.ModuleDict(dict(backbone=backbone, head=head)).to(device)


def step_ms(model, optimizer, images, labels, device) -> float:
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    feat = model['backbone'](images)[-1]
    logits = F.interpolate(model['head'](feat), size=labels.shape[-2:],
                           mode='bilinear', align_corners=False)
    F.cross_entropy(logits, labels).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if device == 'cuda':
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--acts', nargs='+', default=['GELU', 'DiTAC'])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size,
                         device=args.device)
    labels = torch.randint(0, 150, (args.batch, args.size, args.size),
                           device=args.device)
    rows = []
    for act in args.acts:
        model = build(act, args.device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        step_ms(model, optimizer, images, labels, args.device)  # warm-up
        if args.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        times = [step_ms(model, optimizer, images, labels, args.device)
                 for _ in range(args.steps)]
        peak = (torch.cuda.max_memory_allocated() / 2**20
                if args.device == 'cuda' else float('nan'))
        rows.append((act, statistics.median(times), peak))
        print(f'{act:>10}: {rows[-1][1]:9.1f} ms/step, peak {peak:.0f} MiB',
              flush=True)
        del model, optimizer
    base_ms, base_mem = rows[0][1], rows[0][2]
    name = (torch.cuda.get_device_name() if args.device == 'cuda' else
            f'CPU, {torch.get_num_threads()} threads')
    lines = [f'ConvNeXt-T train step, {args.batch}x3x{args.size}x{args.size}, '
             f'{name}', '', f'| activation | ms/step | vs {rows[0][0]} | '
             f'peak MiB | vs {rows[0][0]} |', '|---|---|---|---|---|']
    lines += [f'| {a} | {t:.1f} | {t / base_ms:.3f} | {m:.0f} | '
              f'{m / base_mem:.3f} |' for a, t, m in rows]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f'train_step_{args.device}_{args.size}.md'
    out.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
