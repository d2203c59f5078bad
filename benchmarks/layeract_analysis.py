"""LayerAct's activation analysis (the paper's MNIST study) on scikit-learn's
digits: element-level vs layer-level activations, per layer,

* the mean activation over the test set (LayerAct's outputs centre near
  zero: the layer-normalised input sets the scale, not the raw input), and
* the noise-induced fluctuation: mean |a(x + noise) - a(x)| over the test
  set under Gaussian input noise, relative to the mean |a(x)|.

Pairs: SiLU vs LA-SiLU and HardSiLU vs LA-HardSiLU, in an MLP 64-128-128-
128-10 trained identically (Adam, 1e-3, batch 64) for each activation.

    python benchmarks/layeract_analysis.py --epochs 30 --noise 0.1 0.3 0.5
"""
import argparse
import csv
from pathlib import Path
from typing import Dict, List

import torch
from torch import nn

import mmact
from toy_training import fit_classifier

RESULTS = Path(__file__).resolve().parent / 'results'
PAIRS = (('SiLU', 'LA-SiLU'), ('HardSiLU', 'LA-HardSiLU'))


def digits(seed: int = 0):
    """(x_train, y_train, x_test, y_test): 8x8 digits scaled to [0, 1],
    a fixed 70/30 split."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(
        seed))
    cut = int(0.7 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


class MLP(nn.Module):

    def __init__(self, act: str, width: int = 128, depth: int = 3) -> None:
        super().__init__()
        dims = [64] + [width] * depth
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.acts = nn.ModuleList(
            mmact.build_activation(dict(type=act)) for _ in range(depth))
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor, keep: List = None) -> torch.Tensor:
        for linear, act in zip(self.linears, self.acts):
            x = act(linear(x))
            if keep is not None:
                keep.append(x)
        return self.head(x)


def train(act: str, data, epochs: int, seed: int) -> MLP:
    x, y, _, _ = data
    torch.manual_seed(seed)
    return fit_classifier(MLP(act), x, y, 1e-3, epochs, seed)


@torch.no_grad()
def analyse(model: MLP, data, noise: List[float], seed: int) -> Dict:
    _, _, xt, yt = data
    clean: List[torch.Tensor] = []
    accuracy = (model(xt, clean).argmax(1) == yt).float().mean().item()
    out = dict(accuracy=100 * accuracy,
               mean=[a.mean().item() for a in clean],
               mean_abs=[a.abs().mean().item() for a in clean])
    g = torch.Generator().manual_seed(seed)
    for sigma in noise:
        noisy: List[torch.Tensor] = []
        logits = model(xt + sigma * torch.randn(xt.shape, generator=g),
                       noisy)
        out[f'acc_noise{sigma:g}'] = 100 * (
            logits.argmax(1) == yt).float().mean().item()
        out[f'fluct_noise{sigma:g}'] = [
            ((n - c).abs().mean() / c.abs().mean()).item()
            for n, c in zip(noisy, clean)]
    return out


def plot(results: Dict[str, Dict], noise: List[float], out: Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    acts = list(results)
    depth = len(results[acts[0]]['mean'])
    fig, axes = plt.subplots(1, 1 + len(noise), figsize=(5 * (1 + len(noise)),
                                                         4))
    width = 0.8 / len(acts)
    for k, act in enumerate(acts):
        pos = [i + k * width for i in range(depth)]
        axes[0].bar(pos, results[act]['mean'], width, label=act)
        for ax, sigma in zip(axes[1:], noise):
            ax.bar(pos, results[act][f'fluct_noise{sigma:g}'], width,
                   label=act)
    axes[0].set_title('mean activation per layer (test set)')
    for ax, sigma in zip(axes[1:], noise):
        ax.set_title(f'relative fluctuation, input noise σ={sigma:g}')
    for ax in axes:
        ax.set_xticks([i + 0.4 - width / 2 for i in range(depth)])
        ax.set_xticklabels([f'layer {i + 1}' for i in range(depth)])
        ax.grid(axis='y', alpha=0.3)
        ax.axhline(0, color='0.5', lw=0.8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--noise', type=float, nargs='+',
                        default=[0.1, 0.3, 0.5])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=str(RESULTS / 'layeract_digits'))
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = digits(args.seed)
    results = {}
    for pair in PAIRS:
        for act in pair:
            results[act] = analyse(train(act, data, args.epochs, args.seed),
                                   data, args.noise, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    depth = len(results[PAIRS[0][0]]['mean'])
    header = ['activation', 'accuracy'] + [
        f'acc_noise{s:g}' for s in args.noise] + [
        f'mean_l{i + 1}' for i in range(depth)] + [
        f'fluct{s:g}_l{i + 1}' for s in args.noise for i in range(depth)]
    rows = []
    for act, r in results.items():
        rows.append([act, r['accuracy']] +
                    [r[f'acc_noise{s:g}'] for s in args.noise] + r['mean'] +
                    [v for s in args.noise for v in r[f'fluct_noise{s:g}']])
    with open(out.with_suffix('.csv'), 'w', newline='') as f:
        csv.writer(f).writerows([header] + rows)
    lines = ['| activation | test acc % | ' + ' | '.join(
        f'acc σ={s:g}' for s in args.noise) + ' | mean act. per layer | '
        f'rel. fluctuation σ={args.noise[-1]:g} per layer |',
        '|---' * (4 + len(args.noise)) + '|']
    for act, r in results.items():
        lines.append(
            f"| {act} | {r['accuracy']:.1f} | " + ' | '.join(
                f"{r[f'acc_noise{s:g}']:.1f}" for s in args.noise) +
            ' | ' + ', '.join(f'{v:+.3f}' for v in r['mean']) + ' | ' +
            ', '.join(f'{v:.3f}'
                      for v in r[f'fluct_noise{args.noise[-1]:g}']) + ' |')
    text = '\n'.join(lines) + '\n'
    out.with_suffix('.md').write_text(text)
    plot(results, args.noise, out.with_suffix('.png'))
    print(text)
    print(f'wrote {out}.csv, .md, .png')


if __name__ == '__main__':
    main()
