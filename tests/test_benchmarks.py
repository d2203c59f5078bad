"""The benchmark tools run, resume and report (tiny settings)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))

import paper_regression  # noqa: E402


def test_downstream_matrix_runs_then_resumes(tmp_path):
    cmd = [sys.executable, 'benchmarks/downstream.py', '--configs',
           'configs/dcgan/dcgan-relu_*.py', '--seeds', '0', '--iters', '2',
           '--data-count', '4', '--out', str(tmp_path)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    cell = json.loads(next(tmp_path.glob('cells/*/result.json')).read_text())
    assert cell['activation'] == 'relu' and cell['s_per_iter'] > 0
    assert 'swd/avg' in cell and cell['host_peak_mib'] > 100
    assert '| dcgan | relu | swd/avg |' in (tmp_path / 'results.md').read_text()
    assert (tmp_path / 'results.png').stat().st_size > 0
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0 and 'done before:' in again.stdout


def test_regression_data_and_training_reduce_the_error():
    x, y, xt, yt = paper_regression.make_data('sines1d')
    assert x.shape == (1000, 1) and xt.shape == (1000, 1)
    torch.testing.assert_close(
        yt[-1], 0.4 * torch.sin(torch.tensor([19.0])) +
        0.2 * torch.sin(torch.tensor([23.0])) +
        0.3 * torch.sin(torch.tensor([29.0])) +
        0.1 * torch.sin(torch.tensor([31.0])))
    x, y, xt, yt = paper_regression.make_data('mpg')
    assert len(x) + len(xt) == 392 and 40 < y.mean() < 200  # horsepower
    assert paper_regression.r2(yt, yt) == 1.0
    data = paper_regression.make_data('sines2d')
    short = paper_regression.train_one('sines2d', 'DiTAC', 1e-2, 5, data, 0)
    longer = paper_regression.train_one('sines2d', 'DiTAC', 1e-2, 300, data,
                                         0)
    assert short['params'] == 2 * 50 + 50 + 51 + 9  # MLP 2-50-1 + θ
    assert longer['mse'] < short['mse']


def test_regression_table_resumes_finished_trials(tmp_path, monkeypatch):
    trials = tmp_path / 'table.trials.jsonl'
    first = paper_regression.run('sines1d', ['ReLU'], [1e-2, 1e-3], 20, 0,
                                 trials)
    assert len(trials.read_text().splitlines()) == 2
    monkeypatch.setattr(paper_regression, 'train_one',
                        lambda *a: pytest.fail('a finished trial reran'))
    again = paper_regression.run('sines1d', ['ReLU'], [1e-2, 1e-3], 20, 0,
                                 trials)
    assert again == first
    with pytest.raises(pytest.fail.Exception):  # other settings: new trials
        paper_regression.run('sines1d', ['ReLU'], [1e-2], 21, 0, trials)


def test_layeract_analysis_measures_every_layer():
    import layeract_analysis as la
    data = la.digits()
    assert data[0].shape == (1257, 64) and data[2].shape == (540, 64)
    model = la.train('LA-SiLU', data, epochs=2, seed=0)
    result = la.analyse(model, data, [0.0, 0.5], seed=0)
    assert result['accuracy'] > 50  # two epochs already learn digits
    assert len(result['mean']) == 3
    assert result['fluct_noise0'] == [0.0, 0.0, 0.0]  # no noise, no change
    assert all(v > 0 for v in result['fluct_noise0.5'])


def test_gmm_data_is_a_seeded_ten_class_mixture():
    import paper_gmm
    a = paper_gmm.make_gmm(n=1000, seed=3)
    b = paper_gmm.make_gmm(n=1000, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    x, y, xt, yt = a
    assert x.shape == (700, 2) and xt.shape == (300, 2)
    assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) >= 6
    torch.testing.assert_close(torch.cat([x, xt]).std(0),
                               torch.ones(2), atol=1e-3, rtol=0)


def test_activation_benchmark_reports_ratios_and_saved_memory():
    import bench_activations as ba
    rows = {r['name']: r for r in ba.run(
        ['ReLU', 'DiTAC', 'DiTAC:pytorch', ba.OFFICIAL], 1 << 14, 'cpu',
        torch.float32, repeats=1)}
    assert rows['ReLU']['memory_ratio'] == 1.0
    # DiTAC saves x and tables of ~2k entries, on both paths; the
    # official-style baseline keeps several full-size tensors.
    for name in ('DiTAC', 'DiTAC:pytorch'):
        assert 1.0 < rows[name]['memory_ratio'] < 1.6
    assert rows[ba.OFFICIAL]['memory_ratio'] > 4
    assert all(r['act_ms'] > 0 and r['gelu_ms'] > 0 for r in rows.values())


def test_activation_benchmark_covers_every_registered_activation():
    import bench_activations as ba

    import mmact
    names = ba.registered_names()
    assert names[0] == 'GELU' and len(names) == len(set(names))
    assert set(names) == {i.canonical for i in mmact.list_activations()}
    # 2 x 64^3 elements: a batch of two for Meta-ACON's BN.
    rows = {r['name']: r for r in ba.run(names, 1 << 19, 'cpu',
                                         torch.float32, repeats=1)}
    assert set(rows) == set(names)
    # The memory-lean ops save x and per-channel parameters only.
    for name in ('AconC', 'MetaAconC', 'PDELU', 'LASiLU', 'LAHardSiLU'):
        assert rows[name]['memory_ratio'] < 1.01, rows[name]


def test_exactness_benchmark_states_errors_as_input_shifts():
    """|y - y_exact| / (|dy/dx| ulp(x)) over the inputs erring > 1e-5: at
    θ = 0, y = x Φ(x) and dy/dx = Φ(x) + x φ(x)."""
    import math

    import bench_ditac_exactness as be

    from mmact.modules import DiTAC
    act = DiTAC()
    x = torch.tensor([1.0, 0.5])
    slope = 0.5 * (1 + math.erf(2**-0.5)) + math.exp(-0.5) / (2 * math.pi)**.5
    shift = be._input_shift(act, x, torch.tensor([1e-4, 1e-6]).double())
    assert shift == pytest.approx(1e-4 / (slope * 2.0**-23), rel=1e-6)
    assert be._input_shift(act, x, torch.full((2, ), 1e-5).double()) == 0


def test_twenty_cells_within_1e5_or_a_tenth_of_an_input_step():
    """200 prior draws with 20 cells: each draw's float32 forward within
    1e-5 of the closed form, or (next to a repelling end, at the level
    cap) within what moving x by 0.1 of its float32 step does."""
    import bench_ditac_exactness as be
    rows = be.run(200, {'20 cells': dict(num_cells=20)})
    ours = next(r for r in rows if r['method'] == 'mmact')
    assert ours['within_1e5'] >= 195
    assert float(ours['beyond_1e5_ulp'] or 0) <= 0.1, ours


@pytest.mark.parametrize('shared', [
    True, pytest.param(False, marks=pytest.mark.slow)])
def test_train_step_benchmark_runs_upernet(tmp_path, shared):
    cmd = [sys.executable, 'benchmarks/bench_train_step.py', '--acts',
           'GELU', 'DiTAC', 'GELU', '--size', '32', '--batch', '2',
           '--steps', '1', '--out', str(tmp_path)]
    done = subprocess.run(cmd + ['--shared-model'] * shared, cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / 'train_step_cpu_32.md').read_text()
    assert 'UperNet + ConvNeXt-T' in table
    assert ('one model, activations swapped in turn' in table) == shared
    assert '| GELU |' in table and '| DiTAC |' in table
    assert '| GELU #3 |' in table  # a second GELU: the noise floor


def test_train_step_benchmark_finds_the_blocks_activations():
    """--shared-model swaps exactly the modules act_cfg built: ConvNeXt-T's
    18 blocks, by path; and puts them into the host model."""
    from bench_train_step import CONFIG, _use, activation_modules, build
    host = build(str(CONFIG), 'GELU', 'cpu')
    other = build(str(CONFIG), 'DiTAC', 'cpu')
    found = activation_modules(other, host)
    assert len(found) == 18
    assert all(type(m).__name__ == 'DiTAC' for m in found.values())
    assert all(p.startswith('backbone.stages.') for p in found)
    assert _use(host, found) is host
    assert all(host.get_submodule(p) is m for p, m in found.items())
