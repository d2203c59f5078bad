"""DiTAC: the op against the closed form, gradients, memory, modules."""
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import mmact
from mmact.functional import ditac as F_ditac
from mmact.modules import DiTAC, GEDiTAC, InfDiTAC, LDiTAC
from mmact.modules.ditac import decode_settings
from mmact.ops.ditac import apply_ditac, build_table, capacity

MODULES = {'ditac': DiTAC, 'ge': GEDiTAC, 'leaky': LDiTAC, 'inf': InfDiTAC}


def _prior_module(variant, seed=0, **kwargs):
    torch.manual_seed(seed)
    return MODULES[variant](init='prior', **kwargs)


@pytest.mark.parametrize('variant', sorted(MODULES))
def test_identity_init_is_the_base_function(variant):
    x = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    y = MODULES[variant]().double()(x)
    expected = {
        'ditac': F.gelu(x),
        'ge': torch.where(x < 0, F.gelu(x), x),
        'leaky': F.leaky_relu(x, 0.01),
        'inf': x,
    }[variant]
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=0)


def _table_error(act, x):
    exact = F_ditac.ditac_exact(x.double(), act.theta.double(), act.a, act.b,
                                act.num_cells, act.variant)
    if act.variant == 'inf':  # outside: end segments vs exact tangents
        keep = (x >= act.a) & (x <= act.b)
        x, exact = x[keep], exact[keep]
    with torch.no_grad():
        return (act(x).double() - exact).abs().max().item()


def _exactness_inputs(act, n=20000):
    """float32 inputs dense in the window (the steep parts of a warp are
    ~1e-3 wide) and beyond it on both sides."""
    g = torch.Generator().manual_seed(0)
    inside = act.a + (act.b - act.a) * torch.rand(n, generator=g)
    return torch.cat([inside, torch.linspace(act.a - 3, act.b + 3, 2001),
                      torch.tensor([act.a, act.b])])


@pytest.mark.parametrize('variant', sorted(MODULES))
def test_forward_within_1e5_of_closed_form_for_200_prior_draws(variant):
    """The float32 forward (compiled kernels where built) against the
    float64 closed form at the defaults, for 200 draws of the prior: the
    rough ones too, whose flow expands a repelling end of the window up to
    200-fold (a uniform 2048-point table errs there by up to 1.5e-2)."""
    errors = []
    for seed in range(200):
        act = _prior_module(variant, seed)
        errors.append(_table_error(act, _exactness_inputs(act)))
    assert max(errors) <= 1e-5, (max(errors), errors.index(max(errors)))
    # The smooth warp of a small θ is exact to float32 rounding.
    act = MODULES[variant]()
    with torch.no_grad():
        vertices = torch.arange(1, act.theta.numel() + 1) / 10
        act.theta.copy_(0.15 * torch.sin(2 * torch.pi * vertices))
    assert _table_error(act, _exactness_inputs(act)) <= 2e-6


@pytest.mark.parametrize('settings', [
    dict(a=-3.0, b=3.0), dict(a=-1.0, b=1.0, num_cells=4),
    dict(num_cells=20), dict(num_cells=6, table_size=512)
], ids=['window-3,3', 'window-1,1-4cells', '20cells', '6cells-G512'])
def test_forward_within_1e5_for_other_windows_and_cell_counts(settings):
    errors = []
    for seed in range(50):
        act = _prior_module('ditac', seed, **settings)
        errors.append(_table_error(act, _exactness_inputs(act)))
    assert max(errors) <= 1e-5, (max(errors), errors.index(max(errors)))


def test_table_refines_where_the_warp_is_steep():
    """The grid bins next to a repelling end (dT/du up to ~140 for this
    draw) are split, the flat middle is not; the sub-bins fit the fixed
    capacity."""
    act = _prior_module('ditac', 182)
    level = act.tables(with_grad=False).level
    assert level.shape == (act.table_size - 1, )
    assert level[-8:-1].min() >= 5 and (level == 0).float().mean() > 0.5
    assert int(torch.pow(2, level.long()).sum()) <= capacity(act.table_size)


@pytest.mark.parametrize('variant', sorted(MODULES))
def test_gradcheck_x_and_theta(variant):
    act = _prior_module(variant, table_size=64).double()
    spec = act.spec

    def f(x, theta):
        table = build_table(theta.detach(), act.num_cells, 64, spec, True,
                            torch.float64)
        return apply_ditac(x, theta, table, spec)

    g = torch.Generator().manual_seed(3)
    x = (torch.rand(60, generator=g, dtype=torch.float64) * 5 - 1.5)
    x = x.requires_grad_(True)
    theta = act.theta.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x, theta), atol=1e-6)


def test_saved_memory_equals_gelu():
    def saved_bytes(fn, x):
        total = []

        def pack(t):
            total.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(x)
        return sum(total)

    x = torch.randn(64, 256, requires_grad=True)
    act = _prior_module('ditac')
    # The tables (T in float64 and dT/dθ at the table's points, the
    # levels), and θ
    # itself (the parameter, no copy: the double backward differentiates
    # from it).
    points = capacity(act.table_size) + 1
    d = act.theta.numel()
    extra = points * (8 + 4 * d) + (act.table_size - 1 + d) * 4
    assert saved_bytes(act, x) <= saved_bytes(F.gelu, x) + extra


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_in_and_out(dtype):
    act = _prior_module('ditac')
    x = torch.randn(4, 8, 5, 5)
    y = act(x.to(dtype))
    assert y.dtype == dtype
    torch.testing.assert_close(y, act(x.to(dtype).float()).to(dtype))
    xg = x.to(dtype).requires_grad_(True)
    act(xg).sum().backward()
    assert xg.grad.dtype == dtype and act.theta.grad.dtype == torch.float32
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert act(x).shape == x.shape


def test_nan_and_inf_behave_as_the_gelu_formula():
    # Outside the window DiTAC is x * Φ(x): NaN -> NaN, +inf -> +inf and
    # -inf -> NaN (inf * 0), as the formula gives (torch's CPU GELU kernel
    # returns NaN for both infinities).
    act = _prior_module('ditac')
    x = torch.tensor([float('nan'), float('inf'), -float('inf'), 0.3, 5.0])
    y = act(x)
    ref = x * torch.special.ndtr(x)
    torch.testing.assert_close(y[[0, 1, 2, 4]], ref[[0, 1, 2, 4]],
                               equal_nan=True)
    assert torch.isfinite(y[3])


def test_table_cache_never_stale():
    act = _prior_module('ditac').eval()
    x = torch.linspace(-1, 2.5, 101)
    with torch.no_grad():
        y0 = act(x)
        act.theta.mul_(0.5)  # manual in-place edit
        y1 = act(x)
    assert not torch.equal(y0, y1)
    torch.testing.assert_close(y1, _fresh_eval(act, x))
    state = _prior_module('ditac', seed=5).state_dict()
    act.load_state_dict(state)
    with torch.no_grad():
        torch.testing.assert_close(act(x), _fresh_eval(act, x))
    opt = torch.optim.SGD(act.parameters(), lr=0.1)
    act.train()
    act(x).pow(2).sum().backward()
    opt.step()
    act.eval()
    with torch.no_grad():
        torch.testing.assert_close(act(x), _fresh_eval(act, x))


def _fresh_eval(act, x):
    fresh = MODULES[act.variant]()
    fresh.load_state_dict(act.state_dict())
    with torch.no_grad():
        return fresh.eval()(x)


def test_warp_and_velocity_consistent_with_forward():
    act = _prior_module('ditac')
    x = torch.linspace(-3, 3, 501)
    torch.testing.assert_close(act(x), act.warp(x) * torch.special.ndtr(x))
    vertices = torch.arange(1, act.num_cells) / act.num_cells
    torch.testing.assert_close(act.velocity(vertices),
                               act.theta.detach().double())


def test_prior_start_and_energy():
    shifts = []
    for seed in range(60):
        act = _prior_module('ditac', seed=seed)
        shifts.append(F_ditac.max_displacement(act.theta.double(), 10,
                                               'ditac'))
    assert 0.15 <= torch.tensor(shifts).median() <= 0.3
    act = _prior_module('ditac')
    cov = F_ditac.prior_covariance(10, 'ditac')
    cov = cov + 1e-6 * 0.035 * torch.eye(9, dtype=torch.float64)  # jitter
    theta = act.theta.double()
    expected = theta @ torch.linalg.solve(cov, theta)
    torch.testing.assert_close(act.prior_energy().double(), expected,
                               rtol=1e-4, atol=0)
    assert DiTAC().prior_energy() == 0


def test_invalid_settings_name_the_parameter():
    cases = [
        (dict(type='DiTAC', a=2.0, b=1.0), 'a must be < b'),
        (dict(type='DiTAC', num_cells=1), 'num_cells'),
        (dict(type='DiTAC', table_size=5), 'table_size'),
        (dict(type='DiTAC', init='random'), 'init'),
        (dict(type='GE-DiTAC', a=-1.0), 'a must be >= 0'),
        (dict(type='L-DiTAC', b=float('nan')), 'b'),
    ]
    for cfg, msg in cases:
        with pytest.raises(ValueError, match=msg):
            mmact.build_activation(cfg)


def test_checkpoint_carries_settings_and_round_trips(tmp_path):
    act = _prior_module('ditac')
    path = tmp_path / 'ditac.pth'
    torch.save(act.state_dict(), path)
    state = torch.load(path)
    assert decode_settings(state['_extra_state']) == dict(
        variant='ditac', a=-0.5, b=2.0, num_cells=10,
        basis='vertex-velocity-v1')
    with pytest.raises(ValueError, match='num_cells=10 vs 8'):
        DiTAC(num_cells=8).load_state_dict(state)
    x = torch.linspace(-3, 3, 257)
    code = ('import torch, mmact; from mmact.modules import DiTAC; '
            f'm = DiTAC(); m.load_state_dict(torch.load({str(path)!r})); '
            'x = torch.linspace(-3, 3, 257); '
            'print(repr(m(x).detach().double().sum().item()))')
    out = subprocess.run([sys.executable, '-c', code], check=True,
                         capture_output=True, text=True).stdout
    assert float(out.strip().splitlines()[-1]) == act(x).double().sum().item()


@pytest.mark.slow
def test_compiles_without_graph_breaks():
    """torch.compile(fullgraph=True) traces the table build and the op
    (slow: minutes of compilation on 2 CPU cores; run with -m slow)."""
    torch.manual_seed(0)
    act = DiTAC(init='prior', num_cells=4, table_size=64)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    y = torch.compile(act, fullgraph=True)(x)
    y.square().sum().backward()
    grad_x, grad_theta = x.grad.clone(), act.theta.grad.clone()
    x.grad, act.theta.grad = None, None
    act(x).square().sum().backward()
    torch.testing.assert_close(grad_x, x.grad)
    torch.testing.assert_close(grad_theta, act.theta.grad, rtol=1e-4,
                               atol=1e-5)
