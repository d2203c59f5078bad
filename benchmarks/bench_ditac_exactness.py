"""DiTAC exactness: the forward against the float64 closed form, per prior
draw, next to the table-free alternatives' errors.

For each window / cell count and each of ``--draws`` prior draws of θ it
evaluates, on float32 inputs dense in the window:

* ``mmact``: the module's float32 forward (compiled kernels where built);
* ``uniform-lerp``: linear interpolation on the uniform 2048-point grid
  without refinement (float64: the interpolation error alone);
* ``official-nearest``: the official implementation's nearest-entry lookup
  on that grid (float64; see ``bench_activations.py``);

each as max |y - y_exact|, y_exact from :func:`mmact.functional.ditac.
ditac_exact`. It reports the median and worst draw, the sub-bins of the
refined tables, and the table build time. Where mmact's error exceeds 1e-5
it also reports the error as a shift of the input: |y - y_exact| /
(|dy/dx| ulp(x)), the fraction of a float32 step of x that moves the exact
y as far (dy/dx from the float64 closed form's dT/du). Results go to stdout
and to ``benchmarks/results/ditac_exactness_cpu.{csv,md}``.

    python benchmarks/bench_ditac_exactness.py              # 200 draws
    python benchmarks/bench_ditac_exactness.py --draws 20
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mmact.functional import cpab
from mmact.functional import ditac as F_ditac
from mmact.modules import DiTAC
from mmact.ops.ditac import build_table
from results_io import write_csv, write_markdown

RESULTS = Path(__file__).resolve().parent / 'results'
CASES = {
    'defaults (a=-0.5, b=2, 10 cells)': dict(),
    'a=-3, b=3': dict(a=-3.0, b=3.0),
    '20 cells': dict(num_cells=20),
}


def _uniform(act: DiTAC, x: torch.Tensor, nearest: bool) -> torch.Tensor:
    """x̃ Φ(x) from the unrefined uniform table, in float64."""
    G, width = act.table_size, act.b - act.a
    grid = torch.linspace(0, 1, G, dtype=torch.float64)
    T = cpab.integrate(grid, act.theta.detach().double(), act.num_cells,
                       True).T
    s = ((x - act.a) / width * (G - 1)).clamp(0, G - 1)
    if nearest:
        warped = T[s.round().long()]
    else:
        k = s.floor().clamp(max=G - 2)
        w = s - k
        warped = T[k.long()] * (1 - w) + T[k.long() + 1] * w
    return (act.a + width * warped) * torch.special.ndtr(x)


def _input_shift(act: DiTAC, x: torch.Tensor,
                 error: torch.Tensor) -> float:
    """The largest error / (|dy/dx| ulp(x)) over the inputs erring by more
    than 1e-5 (0 where none does)."""
    far = error > 1e-5
    if not far.any():
        return 0.0
    x, width = x[far].double(), act.b - act.a
    flow = cpab.integrate((x - act.a) / width, act.theta.detach().double(),
                          act.num_cells, True)
    warped = act.a + width * flow.T
    pdf = torch.exp(-0.5 * x * x) / (2 * torch.pi)**0.5
    slope = flow.grad_u * torch.special.ndtr(x) + warped * pdf
    ulp = torch.from_numpy(np.spacing(x.float().numpy()).astype(np.float64))
    return (error[far] / (slope.abs() * ulp)).max().item()


def _build_ms(act: DiTAC) -> float:
    theta = act.theta.detach()
    start = time.perf_counter()
    for _ in range(10):
        build_table(theta, act.num_cells, act.table_size, act.spec)
    return (time.perf_counter() - start) / 10 * 1e3


def run(draws: int, cases: dict = CASES) -> list:
    rows = []
    for case, settings in cases.items():
        errors = {'mmact': [], 'uniform-lerp': [], 'official-nearest': []}
        bins, build, shifts = [], [], []
        for seed in range(draws):
            torch.manual_seed(seed)
            act = DiTAC(init='prior', **settings)
            g = torch.Generator().manual_seed(seed)
            x = act.a + (act.b - act.a) * torch.rand(20000, generator=g)
            x64 = x.double()
            exact = F_ditac.ditac_exact(x64, act.theta.detach().double(),
                                        act.a, act.b, act.num_cells, 'ditac')
            with torch.no_grad():
                y = act(x).double()
            level = act.tables(with_grad=False).level
            bins.append(int(torch.pow(2, level.long()).sum()))
            for name, got in (('mmact', y),
                              ('uniform-lerp', _uniform(act, x64, False)),
                              ('official-nearest', _uniform(act, x64, True))):
                errors[name].append((got - exact).abs().max().item())
            shifts.append(_input_shift(act, x, (y - exact).abs()))
            if seed < 5:
                build.append(_build_ms(act))
        for name, errs in errors.items():
            rows.append(dict(case=case, method=name, draws=draws,
                             median_error=f'{statistics.median(errs):.2e}',
                             worst_error=f'{max(errs):.2e}',
                             within_1e5=sum(e <= 1e-5 for e in errs),
                             sub_bins_median=statistics.median(bins)
                             if name == 'mmact' else '',
                             sub_bins_max=max(bins) if name == 'mmact' else '',
                             build_ms=round(statistics.median(build), 2)
                             if name == 'mmact' else '',
                             beyond_1e5_ulp=f'{max(shifts):.3f}'
                             if name == 'mmact' and max(shifts) else ''))
            print(f'{case:>34} {name:>16}: median {rows[-1]["median_error"]}'
                  f', worst {rows[-1]["worst_error"]}', flush=True)
    return rows


def write(rows: list) -> Path:
    stem = RESULTS / 'ditac_exactness_cpu'
    write_csv(rows, stem.with_suffix('.csv'))
    lines = [
        f'DiTAC forward vs the float64 closed form over {rows[0]["draws"]} '
        f'prior draws (init="prior"), 20000 float32 inputs in the window; '
        f'table of 2048 grid points; torch {torch.__version__}, '
        f'{torch.get_num_threads()} threads', '',
        '| case | method | median max error | worst max error | '
        'draws within 1e-5 | beyond 1e-5: largest as a shift of x (ulp) | '
        'sub-bins (median / max) | table build ms |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for r in rows:
        sub = (f"{r['sub_bins_median']} / {r['sub_bins_max']}"
               if r['sub_bins_max'] != '' else '-')
        lines.append(f"| {r['case']} | {r['method']} | {r['median_error']} "
                     f"| {r['worst_error']} | {r['within_1e5']} | "
                     f"{r['beyond_1e5_ulp'] or '-'} | {sub} | "
                     f"{r['build_ms'] if r['build_ms'] != '' else '-'} |")
    write_markdown(lines, stem.with_suffix('.md'))
    return stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--draws', type=int, default=200)
    args = parser.parse_args()
    print(f'wrote {write(run(args.draws))}.csv/.md')


if __name__ == '__main__':
    main()
