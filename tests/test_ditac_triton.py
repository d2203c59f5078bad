"""Triton DiTAC kernels against the PyTorch path (interpreter on CPU)."""
import pytest
import torch
from toy import DITAC_WINDOWS, ditac_case, knot_inputs, lerp

from mmact.ops import ditac as op

pytestmark = pytest.mark.skipif(op.triton is None, reason='no triton')
DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'


@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
def test_kernels_match_pytorch_path(variant):
    table, spec = ditac_case(variant)
    x = torch.randn(3000) * 2
    x[:4] = torch.tensor([float('nan'), 1e4, -1e4, spec.a])
    g = torch.randn_like(x)
    lt = lerp(table, spec)
    lt_dev = lerp(table, spec, DEVICE)
    y = op.triton_forward(x.to(DEVICE), lt_dev, spec)
    torch.testing.assert_close(y.cpu(), op.ditac_forward(x, table, spec),
                               equal_nan=True, atol=1e-5, rtol=1e-5)
    x, g = x[1:], g[1:]  # a NaN input makes the θ-gradient NaN
    gx, hist = op.triton_backward(x.to(DEVICE), g.to(DEVICE), lt_dev, spec)
    gt = op.theta_grad(hist[:, 0].cpu(), hist[:, 1].cpu(), table.J, lt, spec)
    rgx, rgt = op.ditac_backward(x, g, table, spec)
    torch.testing.assert_close(gx.cpu(), rgx, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gt, rgt, atol=1e-4, rtol=1e-4)


def test_kernels_pick_the_segment_of_the_pytorch_path_at_knots():
    """At the sub-bin ends of split grid bins, where the slope jumps, the
    kernels pick a sub-bin as the other paths do (ROUNDED_LEVELS), so
    grad_x agrees there too."""
    table, spec = ditac_case('ditac', 0.05)
    x = knot_inputs(table, spec)
    g = torch.randn_like(x)
    gx, _ = op.triton_backward(x.to(DEVICE), g.to(DEVICE),
                               lerp(table, spec, DEVICE), spec)
    torch.testing.assert_close(gx.cpu(), op.ditac_backward(x, g, table,
                                                           spec)[0],
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_io(dtype):
    table, spec = ditac_case('ditac')
    x = (torch.randn(2, 4, 8, 8) * 2).to(dtype)
    lt = lerp(table, spec, DEVICE)
    y = op.triton_forward(x.to(DEVICE), lt, spec)
    assert y.dtype == dtype
    torch.testing.assert_close(y.cpu(), op.ditac_forward(x, table, spec))


def test_layouts_without_copies():
    table, spec = ditac_case('ditac')
    lt = lerp(table, spec, DEVICE)
    x = torch.randn(2, 8, 5, 6, device=DEVICE)
    cl = x.to(memory_format=torch.channels_last)
    y = op.triton_forward(cl, lt, spec)
    assert y.stride() == cl.stride()
    torch.testing.assert_close(y, op.triton_forward(x, lt, spec))
    t = x.transpose(1, 3)  # neither layout: computed on a contiguous copy
    torch.testing.assert_close(op.triton_forward(t, lt, spec),
                               op.triton_forward(x, lt, spec).transpose(1, 3))
    empty = torch.empty(0, 3, device=DEVICE)
    assert op.triton_forward(empty, lt, spec).shape == (0, 3)
    gx, hist = op.triton_backward(empty, empty, lt, spec)
    assert gx.shape == (0, 3) and hist.abs().sum() == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_module_uses_kernels_on_gpu():
    from mmact.modules import DiTAC
    torch.manual_seed(0)
    cpu = DiTAC(init='prior')
    gpu = DiTAC(init='prior').cuda()
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(4, 16, 32, 32, requires_grad=True)
    xg = x.detach().cuda().requires_grad_(True)
    cpu(x).square().sum().backward()
    gpu(xg).square().sum().backward()
    torch.testing.assert_close(xg.grad.cpu(), x.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gpu.theta.grad.cpu(), cpu.theta.grad,
                               atol=1e-3, rtol=1e-4)


@pytest.fixture
def deterministic():
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(previous)


@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
def test_partials_reduction_matches_histogram_and_reference(variant):
    """The atomic-free θ-reduction: same grad_x bit for bit, θ-gradient as
    the histogram's and the PyTorch path's, and identical on a rerun."""
    table, spec = ditac_case(variant)
    x = torch.randn(5000) * 2
    x[:2] = torch.tensor([1e4, -1e4])
    g = torch.randn_like(x)
    lt = lerp(table, spec, DEVICE)
    xd, gd, Jd = x.to(DEVICE), g.to(DEVICE), table.J.to(DEVICE)
    gx, gt = op.triton_backward_partials(xd, gd, lt, Jd, spec)
    gx_h, hist = op.triton_backward(xd, gd, lt, spec)
    assert torch.equal(gx, gx_h)
    torch.testing.assert_close(
        gt.cpu(), op.theta_grad(hist[:, 0].cpu(), hist[:, 1].cpu(), table.J,
                                lerp(table, spec), spec),
        atol=1e-4, rtol=1e-4)
    rgx, rgt = op.ditac_backward(x, g, table, spec)
    torch.testing.assert_close(gt.cpu(), rgt, atol=1e-4, rtol=1e-4)
    again = op.triton_backward_partials(xd, gd, lt, Jd, spec)
    assert torch.equal(again[0], gx) and torch.equal(again[1], gt)


def test_deterministic_mode_takes_the_partials(deterministic, monkeypatch):
    monkeypatch.setenv('MMACT_THETA_REDUCTION', 'histogram')
    assert op.theta_reduction() == 'partials'


def test_reduction_switch_is_validated(monkeypatch):
    monkeypatch.setenv('MMACT_THETA_REDUCTION', 'partials')
    assert op.theta_reduction() == 'partials'
    monkeypatch.setenv('MMACT_THETA_REDUCTION', 'atomics')
    with pytest.raises(ValueError, match='MMACT_THETA_REDUCTION'):
        op.theta_reduction()


def test_cpu_kernels_are_bitwise_deterministic_across_repeats():
    """Repeats at one thread count give the same bits; another thread count
    sums the per-thread θ-histograms in another grouping (equal to
    rounding)."""
    from mmact.ops._backend import CPU_KERNELS_BUILT
    if not CPU_KERNELS_BUILT:
        pytest.skip('mmact._C not built')
    table, spec = ditac_case('ditac')
    x = torch.randn(300000) * 2
    g = torch.randn_like(x)
    threads = torch.get_num_threads()
    results = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results[n] = [op.ditac_backward(x, g, table, spec)
                          for _ in range(2)]
    finally:
        torch.set_num_threads(threads)
    for (gx, gt), (gx2, gt2) in results.values():
        assert torch.equal(gx, gx2) and torch.equal(gt, gt2)
    assert torch.equal(results[1][0][0], results[2][0][0])
    # float32 per-thread histogram copies: rounding of the order 1e-4.
    torch.testing.assert_close(results[1][0][1], results[2][0][1],
                               rtol=1e-3, atol=1e-4)
