"""Reference values (float64, ../shared/spec/activations.md §1) and math."""
import pytest
import torch
from mmcv.cnn import build_activation_layer

import mmact
from mmact.functional import pdelu

X = torch.tensor([-3, -1, -0.5, 0, 0.5, 1, 3], dtype=torch.float64)

REFERENCE = {
    'Sigmoid': [0.047426, 0.268941, 0.377541, 0.5, 0.622459, 0.731059, 0.952574],
    'ReLU': [0, 0, 0, 0, 0.5, 1, 3],
    'LeakyReLU': [-0.03, -0.01, -0.005, 0, 0.5, 1, 3],
    'PReLU': [-0.75, -0.25, -0.125, 0, 0.5, 1, 3],
    'ELU': [-0.950213, -0.632121, -0.393469, 0, 0.5, 1, 3],
    'CELU': [-0.950213, -0.632121, -0.393469, 0, 0.5, 1, 3],
    'SELU': [-1.670569, -1.111331, -0.691758, 0, 0.525350, 1.050701, 3.152103],
    'GELU': [-0.004050, -0.158655, -0.154269, 0, 0.345731, 0.841345, 2.995950],
    'GELUTanh': [-0.003637, -0.158808, -0.154286, 0, 0.345714, 0.841192, 2.996363],
    'QuickGELU': [-0.018071, -0.154204, -0.149612, 0, 0.350388, 0.845796, 2.981929],
    'SiLU': [-0.142278, -0.268941, -0.188770, 0, 0.311230, 0.731059, 2.857722],
    'HardSigmoid': [0, 0.333333, 0.416667, 0.5, 0.583333, 0.666667, 1],
    'HardSiLU': [0, -0.333333, -0.208333, 0, 0.291667, 0.666667, 3],
    'Softplus': [0.048587, 0.313262, 0.474077, 0.693147, 0.974077, 1.313262, 3.048587],
    'Mish': [-0.145647, -0.303401, -0.220744, 0, 0.375245, 0.865098, 2.986535],
}
SWISH_BETA2 = [-0.007418, -0.119203, -0.134471, 0, 0.365529, 0.880797, 2.992582]
PDELU_T15 = [-0.84, -0.555556, -0.36, 0, 0.5, 1, 3]
PDELU_T09 = [-0.971752, -0.651322, -0.401263, 0, 0.5, 1, 3]

# Every alias must compute what its canonical name computes.
ALIASES = {
    'selu': 'SELU', 'celu': 'CELU', 'softplus': 'Softplus', 'mish': 'Mish',
    'GELU-tanh': 'GELUTanh', 'gelu_tanh': 'GELUTanh', 'GELU-sigmoid':
    'QuickGELU', 'quick_gelu': 'QuickGELU', 'hard_sigmoid': 'HardSigmoid',
    'HSigmoid': 'HardSigmoid', 'HardSwish': 'HardSiLU', 'hard_swish':
    'HardSiLU', 'HSwish': 'HardSiLU', 'relu': 'ReLU', 'LReLU': 'LeakyReLU',
    'leaky_relu': 'LeakyReLU', 'elu': 'ELU', 'silu': 'SiLU', 'swish': 'SiLU',
    'Swish-1': 'SiLU', 'Swish': 'SiLU', 'gelu': 'GELU', 'sigmoid': 'Sigmoid',
}


def _apply(cfg, x=X):
    act = build_activation_layer(dict(cfg)).double()
    return act(x.clone())


@pytest.mark.parametrize('name', sorted(REFERENCE))
def test_reference_values(name):
    expected = torch.tensor(REFERENCE[name], dtype=torch.float64)
    torch.testing.assert_close(_apply(dict(type=name)), expected,
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize('alias', sorted(ALIASES))
def test_alias_matches_canonical(alias):
    x = torch.linspace(-6, 6, 97, dtype=torch.float64)
    torch.testing.assert_close(_apply(dict(type=alias), x),
                               _apply(dict(type=ALIASES[alias]), x))


@pytest.mark.parametrize('cfg', [
    dict(type='SwishBeta', beta=2.0),
    dict(type='SwishBeta', beta=2.0, learnable=True),
    dict(type='Swish-β', beta=2.0, per_channel=True, num_channels=7,
         channel_dim=-1),
])
def test_swish_beta_reference(cfg):
    x = X if not cfg.get('per_channel') else X.reshape(1, 7)
    out = _apply(cfg, x).flatten()
    torch.testing.assert_close(out, torch.tensor(SWISH_BETA2,
                                                 dtype=torch.float64),
                               atol=1e-6, rtol=0)


def test_swish_beta_limits():
    x = torch.linspace(-4, 4, 33, dtype=torch.float64)
    torch.testing.assert_close(_apply(dict(type='SwishBeta', beta=0.0), x),
                               x / 2)
    torch.testing.assert_close(_apply(dict(type='SwishBeta', beta=200.0), x),
                               torch.relu(x), atol=1e-12, rtol=0)


@pytest.mark.parametrize('t,expected', [(1.5, PDELU_T15), (0.9, PDELU_T09)])
def test_pdelu_reference(t, expected):
    out = _apply(dict(type='PDELU', t=t, per_channel=False))
    torch.testing.assert_close(out, torch.tensor(expected,
                                                 dtype=torch.float64),
                               atol=1e-6, rtol=0)


def test_pdelu_default_t_is_documented_0_9():
    assert mmact.modules.PDELU().t == 0.9


@pytest.mark.parametrize('t', [1.0, 1.0 + 1e-9, 1.0 - 1e-9])
def test_pdelu_elu_limit_is_exact_and_finite(t):
    x = torch.linspace(-5, 2, 71, dtype=torch.float64, requires_grad=True)
    y = pdelu(x, 1.0, t)
    torch.testing.assert_close(y, torch.nn.functional.elu(x))
    (g, ) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g, torch.where(x > 0, 1.0, torch.exp(x)))


@pytest.mark.parametrize('t', [0.5, 0.9, 1.5, 3.0])
def test_pdelu_derivatives_closed_form(t):
    """d/dx and d/dalpha against the spec's closed forms."""
    x = torch.linspace(-4, 3, 57, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y = pdelu(x, alpha, t)
    gx, galpha = torch.autograd.grad(y.sum(), (x, alpha))
    base = torch.clamp(1 + (1 - t) * x.detach(), min=0)
    neg = x.detach() <= 0
    expected_gx = torch.where(neg, 0.7 * base**(t / (1 - t)), 1.0)
    expected_ga = torch.where(neg, base**(1 / (1 - t)) - 1, 0.0).sum()
    torch.testing.assert_close(gx, expected_gx)
    torch.testing.assert_close(galpha, expected_ga)


def test_hard_functions_match_mmcv_defaults():
    x = torch.randn(4, 3, 5, 5) * 4
    torch.testing.assert_close(
        _apply(dict(type='HardSigmoid'), x),
        build_activation_layer(dict(type='HSigmoid'))(x))
    torch.testing.assert_close(
        _apply(dict(type='HardSiLU'), x),
        build_activation_layer(dict(type='HSwish'))(x))


@pytest.mark.parametrize('t', [0.9, 1.5, 1.0])
def test_pdelu_memory_lean_op_matches_autograd_and_saves_only_inputs(t):
    from mmact.ops.pdelu import pdelu as pdelu_op
    torch.manual_seed(0)
    # Points beyond the t = 0.9 saturation (x <= -10) and on both sides of 0.
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64) * 6
    alpha = torch.rand(1, 3, 1, 1, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(
        lambda x, a: pdelu_op(x, a, t),
        (x.clone().requires_grad_(True), alpha.clone().requires_grad_(True)))
    xs = x.clone().requires_grad_(True)
    ys = alpha.clone().requires_grad_(True)
    g = torch.randn_like(x)
    ref = torch.autograd.grad(pdelu(xs, ys, t), (xs, ys), g)
    out = torch.autograd.grad(pdelu_op(xs, ys, t), (xs, ys), g)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(pdelu_op(x, alpha, t), pdelu(x, alpha, t))
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda s: saved.append(s.numel()) or s, lambda s: s):
        mmact.modules.PDELU(t=t, num_channels=3)(
            x.float().requires_grad_(True))
    assert sorted(saved) == [3, x.numel()]
