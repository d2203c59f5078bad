"""Pictures of learned activations from checkpoints."""
import subprocess
import sys

import torch
from torch import nn

import mmact
from mmact.visualization import _channel_median_curve, plot_checkpoint


def _model():
    torch.manual_seed(0)
    return nn.ModuleDict(dict(
        ditac=mmact.build_activation(dict(type='DiTAC', init='prior')),
        acon=mmact.build_activation(dict(type='ACON-C', num_channels=4)),
        pdelu=mmact.build_activation(dict(type='PDELU', num_channels=3)),
        meta=mmact.build_activation(dict(type='Meta-ACON', num_channels=16,
                                         norm=None)),
    ))


def test_checkpoint_pictures_find_each_family(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(dict(state_dict=_model().state_dict(), meta={}), path)
    families = plot_checkpoint(str(path), str(tmp_path / 'acts.png'))
    assert families == {'DiTAC': ['ditac'], 'ACON-C': ['acon'],
                        'PDELU': ['pdelu']}  # Meta-ACON's β is generated
    assert (tmp_path / 'acts.png').stat().st_size > 10000
    out = subprocess.run([sys.executable, '-m', 'mmact', 'plot-ckpt',
                          str(path), '--out', str(tmp_path / 'cli.png')],
                         capture_output=True, text=True, check=True).stdout
    assert '1 DiTAC layers, 1 ACON-C layers, 1 PDELU layers' in out


def test_channel_median_curve_is_the_median_channel():
    act = mmact.build_activation(dict(type='PDELU', num_channels=3))
    with torch.no_grad():
        act.alpha.copy_(torch.tensor([0.5, 1.0, 3.0]))
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    middle = mmact.build_activation(dict(type='PDELU', num_channels=1))
    expected = middle.double()(x[:, None])[:, 0]
    torch.testing.assert_close(_channel_median_curve(act, x), expected)


def test_input_histograms_count_every_input_of_every_activation(tmp_path):
    from mmact.visualization import InputHistograms
    model = nn.Sequential(nn.Linear(4, 8), mmact.build_activation(
        dict(type='DiTAC')), nn.Linear(8, 8), nn.ReLU())
    x = torch.randn(50, 4) * 3
    with InputHistograms(model, bins=10, x_range=(-1.0, 1.0)) as hist:
        model(x)
        model(x)
    assert list(hist.counts) == ['1', '3']
    assert hist.counts['1'].sum().item() == 2 * 50 * 8  # bins + tails
    pre = model[0](x)
    expected_above = 2 * (pre > 1.0).sum().item()
    assert hist.counts['1'][-1].item() == expected_above
    model(x)  # outside the context: not counted
    assert hist.counts['1'].sum().item() == 2 * 50 * 8
    assert hist.plot(str(tmp_path / 'h.png')) == ['1', '3']
