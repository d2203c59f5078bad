"""Second derivatives of the trainable activations: gradgradcheck in
float64 (input and every parameter; NCHW, channels-last, tokens), and a
gradient penalty through the fast float32 path equal to plain autograd."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from mmact import build_activation
from mmact.functional import cpab
from mmact.ops.ditac import apply_ditac, build_table, table_points

CASES = {
    'PDELU': dict(type='PDELU', num_channels=4),
    'PDELU-t1.5': dict(type='PDELU', num_channels=4, t=1.5),
    'SwishBeta': dict(type='SwishBeta', learnable=True, per_channel=True,
                      num_channels=4),
    'ACON-A': dict(type='ACON-A', num_channels=4),
    'ACON-B': dict(type='ACON-B', num_channels=4),
    'ACON-C': dict(type='ACON-C', num_channels=4),
    'Meta-ACON': dict(type='Meta-ACON', num_channels=4, norm='GN'),
    'LA-SiLU': dict(type='LA-SiLU'),
    'LA-HardSiLU': dict(type='LA-HardSiLU'),
}
LAYOUTS = ('nchw', 'channels_last', 'tokens')


def _input(layout, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    if layout == 'tokens':
        return torch.randn(2, 5, 4, generator=g, dtype=dtype) * 2
    x = torch.randn(2, 4, 3, 3, generator=g, dtype=dtype) * 2
    return x.to(memory_format=torch.channels_last) \
        if layout == 'channels_last' else x


def _module(name, layout, dtype=torch.float64):
    cfg = dict(CASES[name])
    if layout == 'tokens':
        if name.startswith('LA-'):
            cfg['per_token'] = True
        elif name == 'Meta-ACON':
            pytest.skip('Meta-ACON takes maps')
        else:
            cfg['channel_dim'] = -1
    torch.manual_seed(0)
    return build_activation(cfg).to(dtype)


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('name', sorted(CASES))
def test_gradgradcheck_in_input_and_parameters(name, layout):
    module = _module(name, layout)
    names, params = zip(*module.named_parameters()) if any(
        True for _ in module.parameters()) else ((), ())

    def f(x, *ps):
        return torch.func.functional_call(module, dict(zip(names, ps)),
                                          (x, ))

    inputs = (_input(layout).requires_grad_(True), ) + tuple(
        p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradgradcheck(f, inputs)


@pytest.mark.parametrize('name', sorted(CASES))
def test_gradient_penalty_matches_plain_autograd(name):
    """The penalty ||∂y/∂x||² and its gradient in x and the parameters,
    through the op's float32 path (compiled kernels on CPU) vs the same
    module in float64, where the ops run their PyTorch reference paths."""
    fast = _module(name, 'nchw', torch.float32)
    ref = _module(name, 'nchw', torch.float64)
    x = _input('nchw', torch.float32)
    results = []
    for module, xx in ((fast, x), (ref, x.double())):
        xx = xx.clone().requires_grad_(True)
        (gx, ) = torch.autograd.grad(module(xx).sum(), xx, create_graph=True)
        penalty = gx.square().sum()
        params = list(module.parameters())
        results.append((penalty, torch.autograd.grad(penalty, [xx, *params],
                                                     allow_unused=True)))
    (p32, g32), (p64, g64) = results
    torch.testing.assert_close(p32.double(), p64, rtol=1e-4, atol=1e-5)
    for a, b in zip(g32, g64):
        if b is None:
            assert a is None or not a.abs().sum()
            continue
        torch.testing.assert_close(a.double(), b, rtol=1e-3, atol=1e-4)


DITACS = ('DiTAC', 'GEDiTAC', 'LDiTAC', 'InfDiTAC')


def _ditac(name, dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    return build_activation(dict(type=name, init='prior', **kwargs)).to(dtype)


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('name', DITACS)
def test_ditac_gradgradcheck_in_input_and_theta(name, layout):
    """A prior draw of θ (a non-trivial warp); inputs ~ N(0, 2²) fall inside
    and outside the window. 64 table points keep the bins wide, so that the
    finite differences rarely straddle a bin edge (a kink of the
    interpolant)."""
    module = _ditac(name, table_size=64)

    def f(x, theta):
        # Tables from the θ given: gradcheck perturbs θ through .data,
        # which the module's cache cannot see.
        table = build_table(theta.detach(), module.num_cells,
                            module.table_size, module.spec, True,
                            theta.dtype)
        return apply_ditac(x, theta, table, module.spec)

    inputs = (_input(layout).requires_grad_(True),
              module.theta.detach().clone().requires_grad_(True))
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


class ReferenceDiTAC(nn.Module):
    """DiTAC written out in float64 plain autograd, independently of the
    op's lookup: T at the points of the module's table from the
    closed-form integral (autograd in θ), the sub-bin found by
    searchsorted, linear interpolation, the variant's base function."""

    def __init__(self, ditac):
        super().__init__()
        self.theta = nn.Parameter(ditac.theta.detach().double().clone())
        self.settings = dict(ditac.settings(),
                             negative_slope=ditac.negative_slope)
        level = ditac.tables(with_grad=False).level
        bins = int(torch.pow(2, level.long()).sum())
        self.points = table_points(level)[:bins + 1]

    def forward(self, x):
        m = SimpleNamespace(**self.settings)
        a, b, p = m.a, m.b, self.points
        T = cpab.integrate(p, self.theta, m.num_cells,
                           m.variant != 'inf').T
        u = (x - a) / (b - a)
        j = (torch.searchsorted(p, u.detach().contiguous(), right=True) -
             1).clamp(0, p.numel() - 2)
        w = (u - p[j]) / (p[j + 1] - p[j])
        warped = a + (b - a) * (T[j] * (1 - w) + T[j + 1] * w)
        if m.variant != 'inf':
            warped = torch.where((x >= a) & (x <= b), warped, x)
        if m.variant == 'ditac':
            return warped * torch.special.ndtr(x)
        if m.variant == 'ge':
            return torch.where(x < 0, x * torch.special.ndtr(x), warped)
        if m.variant == 'leaky':
            return torch.where(warped >= 0, warped, m.negative_slope * warped)
        return warped


def _discriminator(act):
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), act,
                         nn.Conv2d(8, 1, 3, stride=2), nn.Flatten(),
                         nn.Linear(9, 1))


@pytest.mark.parametrize('name', DITACS)
def test_ditac_discriminator_gradient_penalty_matches_reference(name):
    """WGAN-GP's penalty (‖∇ₓD(x̂)‖ - 1)² and its gradient in every
    parameter of D (θ included): DiTAC's float32 op (compiled kernels on
    CPU, defaults, prior θ) against the same D in float64 with
    ReferenceDiTAC in its place."""
    fast_act = _ditac(name, torch.float32)
    fast = _discriminator(fast_act)
    ref = _discriminator(ReferenceDiTAC(fast_act))
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    ref.load_state_dict({k: v.double() for k, v in fast.state_dict().items()
                         if not k.startswith('1.')}, strict=False)
    ref.double()
    results = []
    for net, xx in ((fast, x), (ref, x.double())):
        xx = xx.clone().requires_grad_(True)
        (gx, ) = torch.autograd.grad(net(xx).sum(), xx, create_graph=True)
        penalty = (gx.flatten(1).norm(dim=1) - 1).square().mean()
        results.append((penalty, torch.autograd.grad(
            penalty, list(net.parameters()), allow_unused=True,
            materialize_grads=True)))
    (p32, g32), (p64, g64) = results
    assert p64 > 0 and torch.isfinite(p32)
    torch.testing.assert_close(p32.double(), p64, rtol=1e-5, atol=1e-6)
    names = [n for n, _ in ref.named_parameters()]
    assert names[2] == '1.theta' and g64[2].abs().sum() > 0
    for n, a, b in zip(names, g32, g64):
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5,
                                   msg=n)
