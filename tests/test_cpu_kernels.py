"""Compiled CPU kernels (mmact._C) against the PyTorch paths and float64."""
import platform

import pytest
import torch
from toy import DITAC_WINDOWS, ditac_case, float_table, knot_inputs, lerp

from mmact.functional import cpab as F_cpab
from mmact.functional import layeract as F_la
from mmact.functional import pdelu as F_pdelu
from mmact.modules import DiTAC
from mmact.ops import ditac as op
from mmact.ops._backend import (CPU_KERNELS_BUILT, cpu_isa, cpu_kernels,
                                vector_isa)
from mmact.ops.layeract import layer_act

pytestmark = pytest.mark.skipif(not CPU_KERNELS_BUILT,
                                reason='mmact._C not built')


@pytest.mark.skipif(platform.machine() != 'x86_64', reason='x86-64 only')
def test_built_and_used_on_x86():
    """The set-up builds the kernels here, and CPU float32 goes to them."""
    assert CPU_KERNELS_BUILT
    calls = []
    x = torch.randn(100)
    spec = op.DiTACSpec(-0.5, 2.0, 'ditac', 0.01)
    table = op.build_table(torch.zeros(9, dtype=torch.float64), 10, 64, spec)
    real = op.cpu_forward
    try:
        op.cpu_forward = lambda *a: calls.append(1) or real(*a)
        op.ditac_forward(x, table, spec)
        op.ditac_forward(x.double(), table, spec)  # float64: PyTorch
    finally:
        op.cpu_forward = real
    assert calls == [1]


def _run(x, g, table, spec, kernels):
    with cpu_kernels(kernels):
        y = op.ditac_forward(x, table, spec)
        gx, gt = op.ditac_backward(x, g, table, spec)
    return y, gx, gt


# θ = 0: no grid bin split; 0.3: 7-10 % of them; 0.05: 27-30 % (many
# lanes listed and looked up again after their block).
SPLIT_SCALES = [0.0, 0.3, 0.05]


@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
@pytest.mark.parametrize('numel', [5, 8, 1003, 70001])
@pytest.mark.parametrize('scale', SPLIT_SCALES)
def test_ditac_matches_pytorch_path_and_float64(variant, numel, scale):
    """Values, grad_x and grad_θ; sizes around the 8 lanes and the thread
    split; inputs in, below and above the window, on bin edges; θ = 0 (no
    grid bin split: one lookup) and θs whose steep bins are split, few or
    many."""
    table, spec = ditac_case(variant, scale)
    share = (table.level > 0).double().mean().item()
    assert share == 0 if scale == 0 else (0.05 < share < 0.125) == (
        scale == 0.3)
    x = torch.randn(numel) * 2
    x[:4] = torch.tensor([spec.a, spec.b, 1e4, -1e4])[:numel]
    g = torch.randn_like(x)
    y, gx, gt = _run(x, g, float_table(table), spec, True)
    ry, rgx, rgt = _run(x, g, float_table(table), spec, False)
    torch.testing.assert_close(y, ry, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(gx, rgx, atol=2e-6, rtol=1e-5)
    # The oracle: the same op in float64 (the PyTorch path). The kernels
    # are at least as accurate as the float32 PyTorch path. The θ-gradient
    # without the ±1e4 inputs: extrapolated (inf-DiTAC) they add terms
    # ~1e10 to the float32 histograms, whose rounding then decides; its
    # oracle contracts with the float32 dT/dθ both paths use (rounding J
    # is the table's precision, the same for both, not the kernels').
    oracle = _run(x.double(), g.double(), table, spec, True)
    _, _, gt = _run(x[4:], g[4:], float_table(table), spec, True)
    _, _, rgt = _run(x[4:], g[4:], float_table(table), spec, False)
    rounded_j = table._replace(J=table.J.float().double())
    _, _, ogt = _run(x[4:].double(), g[4:].double(), rounded_j, spec, True)
    oracle = (*oracle[:2], ogt)
    for got, ref, exact in zip((y, gx, gt), (ry, rgx, rgt), oracle):
        err = (got.double() - exact).abs().max().item()
        ref_err = (ref.double() - exact).abs().max().item()
        assert err <= 1.5 * ref_err + 1e-6 * exact.abs().max().item(), (
            err, ref_err)
    # The spec's 1e-5 bound (plus float32 rounding of large |y|).
    torch.testing.assert_close(y.double(), oracle[0], atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
@pytest.mark.parametrize('rounded', [1, 2, 8])
def test_ditac_paths_pick_the_same_segment_at_knots(variant, rounded,
                                                    monkeypatch):
    """At the sub-bin ends of the split grid bins, where the slope jumps,
    the kernels (reading the sub-bins of levels up to ROUNDED_LEVELS from a
    grid that much finer; 8: as fine as the deepest level, 4) pick the
    segment that the PyTorch path picks, so grad_x and the θ-gradient agree
    there too."""
    monkeypatch.setattr(op, 'ROUNDED_LEVELS', rounded)
    table, spec = ditac_case(variant, 0.05)
    lt = lerp(table, spec)
    x = knot_inputs(table, spec)
    g = torch.randn_like(x)
    y, gx, gt = _run(x, g, float_table(table), spec, True)
    ry, rgx, rgt = _run(x, g, float_table(table), spec, False)
    torch.testing.assert_close(y, ry, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(gx, rgx, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(gt, rgt, atol=1e-4, rtol=1e-5)
    # A row per part of the window's grid bins (and per identity bin),
    # then, where a part holds several sub-bins, the LerpTable's.
    deepest = int(table.level.max())
    rows = op._cpu_args(lt, spec).args[0].shape[0]
    assert rows == 2**min(rounded, deepest) * table.level.numel() \
        + 2 * lt.offset + lt.base.numel() * (deepest > rounded)


@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
def test_ditac_special_values(variant):
    """NaN in → NaN out; ±inf as the PyTorch path gives them."""
    table, spec = ditac_case(variant, 0.3)
    x = torch.tensor([float('nan'), float('inf'), -float('inf'), 0.25])
    y, _, _ = _run(x, torch.ones_like(x), float_table(table), spec, True)
    ry, _, _ = _run(x, torch.ones_like(x), float_table(table), spec, False)
    torch.testing.assert_close(y, ry, equal_nan=True)
    assert torch.isnan(y[0])


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_ditac_low_precision_io(dtype):
    table, spec = ditac_case('ditac', 0.3)
    x = (torch.randn(2, 4, 8, 8) * 2).to(dtype)
    y, gx, _ = _run(x, torch.ones_like(x), float_table(table), spec, True)
    assert y.dtype == gx.dtype == dtype
    ry, rgx, _ = _run(x, torch.ones_like(x), float_table(table), spec,
                      False)
    torch.testing.assert_close(y, ry)
    torch.testing.assert_close(gx, rgx)


def test_ditac_layouts_without_copies():
    table, spec = ditac_case('ditac', 0.3)
    x = torch.randn(2, 8, 5, 6)
    cl = x.to(memory_format=torch.channels_last)
    g = torch.randn_like(cl)
    y, gx, gt = _run(cl, g, float_table(table), spec, True)
    assert y.stride() == gx.stride() == cl.stride()
    ry, rgx, rgt = _run(x, g.contiguous(), float_table(table), spec, True)
    torch.testing.assert_close(y, ry)
    torch.testing.assert_close(gx, rgx)
    # The θ-histogram sums in storage order: float32 rounding differs
    # where a sub-bin holds three or more elements.
    torch.testing.assert_close(gt, rgt, rtol=1e-5, atol=1e-6)
    t = x.transpose(1, 3)  # no dense layout: computed on a copy
    torch.testing.assert_close(_run(t, t, float_table(table), spec,
                                    True)[0], ry.transpose(1, 3))
    empty = torch.empty(0, 3)
    y, gx, gt = _run(empty, empty, float_table(table), spec, True)
    assert y.shape == gx.shape == (0, 3) and gt.abs().sum() == 0


def test_ditac_module_training_step_matches():
    """A module's forward + backward (θ and x) agree on both paths."""
    torch.manual_seed(0)
    act = DiTAC(init='prior')
    x = torch.randn(4, 16, 32, 32, requires_grad=True)
    grads = []
    for kernels in (True, False):
        x.grad, act.theta.grad = None, None
        with cpu_kernels(kernels):
            act(x).square().mean().backward()
        grads.append((x.grad.clone(), act.theta.grad.clone()))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-8,
                               rtol=1e-5)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-6,
                               rtol=1e-4)


@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
def test_ditac_table_build_matches_tensor_ops(variant, monkeypatch):
    """The compiled table build refines as the tensor ops do: the same
    levels, T and dT/dθ within float64 rounding (the PyTorch path also
    integrates with the reference), for θ = 0, a step away from it, and
    prior-scale to steep θ, on windows, cell counts and sizes; and with a
    capacity so small that the tolerance is raised to fit it."""
    from mmact.functional import ditac as F_ditac
    window = (0.0, 3.0) if variant == 'ge' else (-3.0, 3.0)
    cases = [(window, 10, 2048), (DITAC_WINDOWS[variant], 20, 2048),
             (DITAC_WINDOWS[variant], 6, 512)]
    default_capacity = op.capacity

    def build(theta, nc, size, spec, kernels):
        with cpu_kernels(kernels):
            return op.build_table(theta, nc, size, spec, True, torch.float64)

    lowered = 0
    for (a, b), nc, size in cases:
        spec = op.DiTACSpec(a, b, variant, 0.01)
        d = nc - 1 if F_ditac.zero_boundary(variant) else nc + 1
        gen = torch.Generator().manual_seed(nc)
        for scale in (0.0, 1e-4, 0.1, 0.3, 1.0):
            theta = torch.randn(d, generator=gen, dtype=torch.float64) * scale
            levels = []
            for tight in (False, True):
                monkeypatch.setattr(op, 'capacity',
                                    (lambda n: n + 15) if tight
                                    else default_capacity)
                built = build(theta, nc, size, spec, True)
                ref = build(theta, nc, size, spec, False)
                assert torch.equal(built.level, ref.level), (nc, scale)
                torch.testing.assert_close(built.T, ref.T, atol=1e-14,
                                           rtol=0)
                torch.testing.assert_close(built.J, ref.J, atol=1e-12,
                                           rtol=1e-12)
                assert built.T.shape == (op.capacity(size) + 1, )
                levels.append(built.level)
            monkeypatch.undo()
            if scale in (0.0, 1.0):
                assert bool(levels[0].any()) == (scale > 0), (nc, scale)
            lowered += not torch.equal(*levels)
    # The tight capacity lowered levels, i.e. raised the tolerance.
    assert lowered >= 3


def test_ops_pass_opcheck():
    """Schemas, fake (meta) kernels and dispatch are consistent, so the
    ops trace under torch.compile."""
    table, spec = ditac_case('ditac', 0.3)
    lt = lerp(table, spec)
    x = torch.randn(2, 3, 4, 5)
    args = op._cpu_args(lt, spec).args
    torch.library.opcheck(torch.ops.mmact.ditac_forward, (x, *args))
    torch.library.opcheck(torch.ops.mmact.ditac_backward,
                          (x, torch.randn_like(x), *args))
    A, B = F_cpab.coefficients(torch.randn(9, dtype=torch.float64), 10, True)
    for with_grad in (True, False):
        torch.library.opcheck(torch.ops.mmact.ditac_table,
                              (A, B.contiguous(), 64, 126, 2.5, 1e-6, 10, 1,
                               with_grad))
    rows = x.reshape(2, -1)
    mean, rstd = (t.view(-1) for t in F_la.statistics(rows, 1e-5, True))
    torch.library.opcheck(torch.ops.mmact.layeract_forward,
                          (rows, mean, rstd, 0))
    torch.library.opcheck(torch.ops.mmact.layeract_backward,
                          (rows, torch.randn_like(rows), mean, rstd, 1,
                           59.0))


def test_bad_arguments_name_the_problem():
    table, spec = ditac_case('ditac', 0.3)
    args = list(op._cpu_args(lerp(table, spec), spec).args)
    with pytest.raises(RuntimeError, match='x must be a dense float32'):
        torch.ops.mmact.ditac_forward(torch.zeros(3, dtype=torch.float64),
                                      *args)
    args[9] = 9
    with pytest.raises(RuntimeError, match='unknown variant code 9'):
        torch.ops.mmact.ditac_forward(torch.zeros(3), *args)
    args[9] = 0
    bad = args[1].clone()
    bad[5] = (args[0].shape[0] - 1) * 16 + 2  # 4 sub-bins past the end
    with pytest.raises(RuntimeError, match='sub-bins of bin 5 outside'):
        torch.ops.mmact.ditac_forward(torch.zeros(3), args[0], bad,
                                      *args[2:])
    # A split bin's grid row holds the marker and no other row does: the
    # kernels list a lane by it, then take its sub-bin from desc.
    split = int(torch.nonzero(args[1] & 15)[0])
    for row, step in ((split, 0.5), (split - 1, args[0][split, 1].item())):
        bad = args[0].clone()
        bad[row, 1] = step
        with pytest.raises(RuntimeError,
                           match=f'grid row {row} of pairs does not match'):
            torch.ops.mmact.ditac_forward(torch.zeros(3), bad, *args[1:])
    with pytest.raises(RuntimeError, match='pairs must be a contiguous'):
        torch.ops.mmact.ditac_forward(torch.zeros(3), args[0].t(),
                                      *args[1:])
    A, B = F_cpab.coefficients(torch.zeros(9), 10, True)
    with pytest.raises(RuntimeError, match='A must hold 2 nc coefficients'):
        torch.ops.mmact.ditac_table(A[:-1], B.contiguous(), 64, 126, 2.5,
                                    1e-6, 10, 1, True)
    with pytest.raises(RuntimeError, match='capacity >= size - 1'):
        torch.ops.mmact.ditac_table(A, B.contiguous(), 64, 62, 2.5, 1e-6,
                                    10, 1, True)
    with pytest.raises(RuntimeError, match='width and tolerance must be'):
        torch.ops.mmact.ditac_table(A, B.contiguous(), 64, 126, 0.0, 1e-6,
                                    10, 1, True)
    with pytest.raises(RuntimeError, match='one mean and rstd per row'):
        torch.ops.mmact.layeract_forward(torch.zeros(2, 3), torch.zeros(3),
                                         torch.zeros(3), 0)


@pytest.mark.parametrize('kind', ['silu', 'hard_silu'])
@pytest.mark.parametrize('shape,per_token,unbiased', [
    ((2, 3, 40000), False, True),   # rows longer than a column block
    ((1, 70001), False, False),     # batch of one: blocks across threads
    ((3, 5, 7), True, True),        # per token, short rows
    ((4, 3, 8, 8), False, True),
])
def test_layeract_matches_float64(kind, shape, per_token, unbiased):
    torch.manual_seed(0)
    x = torch.randn(shape) * 2 + 0.3
    g = torch.randn(shape)
    x64 = x.double().requires_grad_(True)
    layer_act(x64, kind, 1e-5, unbiased, per_token).backward(g.double())
    for kernels in (True, False):
        with cpu_kernels(kernels):
            xx = x.clone().requires_grad_(True)
            y = layer_act(xx, kind, 1e-5, unbiased, per_token)
            y.backward(g)
        ref = F_la.layer_act(x64.detach(), kind, 1e-5, unbiased, per_token)
        torch.testing.assert_close(y.double(), ref, atol=3e-6, rtol=1e-5)
        torch.testing.assert_close(xx.grad.double(), x64.grad, atol=3e-6,
                                   rtol=1e-5)


def test_layeract_low_precision_and_empty():
    x = torch.randn(2, 3, 8, 8).to(torch.bfloat16).requires_grad_(True)
    with cpu_kernels(True):
        y = layer_act(x, 'silu')
        y.sum().backward()
    assert y.dtype == x.grad.dtype == torch.bfloat16
    with cpu_kernels(False):
        torch.testing.assert_close(y, layer_act(x.detach(), 'silu'))
    e = torch.empty(0, 4, requires_grad=True)
    with cpu_kernels(True):
        layer_act(e, 'silu', per_token=True).sum().backward()
    assert e.grad.shape == (0, 4)


def _pdelu_case(x, alpha, t):
    """(y, grad_x, grad_α) of the op for x, α and a fixed upstream grad."""
    from mmact.ops.pdelu import pdelu
    x = x.detach().requires_grad_(True)
    alpha = alpha.detach().requires_grad_(True)
    y = pdelu(x, alpha, t)
    g = torch.linspace(-1, 1, y.numel()).view(y.shape).to(y.dtype)
    return (y, *torch.autograd.grad(y, (x, alpha), g))


@pytest.mark.parametrize('t', [0.9, 1.5, 1.0])
@pytest.mark.parametrize('layout', ['nchw', 'channels_last', 'scalar',
                                    'per_sample', 'strided'])
def test_pdelu_matches_float64(t, layout):
    torch.manual_seed(0)
    x = torch.randn(3, 8, 9, 7) * 6
    x[0, 0, 0, :3] = torch.tensor([0.0, -1 / (1 - 0.9), 1e-30])
    alpha = torch.rand(1, 8, 1, 1) + 0.5
    if layout == 'channels_last':
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == 'scalar':
        alpha = alpha[:, :1]
    elif layout == 'per_sample':
        alpha = torch.rand(3, 8, 1, 1) + 0.5
    elif layout == 'strided':  # no dense layout: element by element
        x = x.transpose(1, 3)
        alpha = alpha.view(1, 1, 1, 8)
    ref = _pdelu_case(x.double(), alpha.double(), t)
    for kernels in (True, False):
        with cpu_kernels(kernels):
            out = _pdelu_case(x, alpha, t)
        assert out[0].stride() == x.stride() or layout == 'strided'
        for o, r, tol in zip(out, ref, (2e-6, 2e-6, 1e-4)):  # α: a sum
            torch.testing.assert_close(o.double(), r, atol=tol, rtol=tol)


def test_pdelu_kernel_specials_low_precision_and_empty():
    from mmact.ops.pdelu import pdelu
    alpha = torch.tensor([1.5])
    specials = torch.tensor([float('nan'), float('inf'), -float('inf'),
                             -1e30])
    x = torch.cat([specials, torch.randn(7), specials])  # vector and tail
    for t in (0.9, 1.5, 1.0):
        with cpu_kernels(True):
            y = pdelu(x, alpha, t)
        with cpu_kernels(False):
            torch.testing.assert_close(y, pdelu(x, alpha, t), equal_nan=True)
        assert y[1] == y[12] == float('inf') and y[2] == y[3] == -1.5
    for dtype in (torch.float16, torch.bfloat16):
        xl = (torch.randn(2, 4, 5, 5) * 3).to(dtype).requires_grad_(True)
        al = torch.rand(1, 4, 1, 1, requires_grad=True)
        with cpu_kernels(True):
            y = pdelu(xl, al, 0.9)
            y.sum().backward()
        assert y.dtype == torch.float32 and xl.grad.dtype == dtype
        # Computed in float32 from the low-precision input.
        ref = F_pdelu(xl.detach().double(), al.detach().double(), 0.9)
        torch.testing.assert_close(y.double(), ref, atol=1e-6, rtol=1e-6)
    e = torch.empty(0, 4, requires_grad=True)
    a = torch.ones(4, requires_grad=True)
    with cpu_kernels(True):
        pdelu(e, a, 0.9).sum().backward()
    assert e.grad.shape == (0, 4) and a.grad.abs().sum() == 0


def test_pdelu_ops_pass_opcheck_and_check_arguments():
    x, g = torch.randn(2, 3, 20), torch.randn(2, 3, 20)
    torch.library.opcheck(torch.ops.mmact.pdelu_forward,
                          (x, torch.rand(1, 3, 1), 0.9, False))
    for inner, alpha in ((False, torch.rand(2, 3)), (True, torch.rand(2, 20))):
        torch.library.opcheck(torch.ops.mmact.pdelu_backward,
                              (x, g, alpha, 1.5, False, inner))
    with pytest.raises(RuntimeError, match='alpha must be a float32 CPU'):
        torch.ops.mmact.pdelu_forward(x, torch.rand(3, 1).double(), 0.9,
                                      False)
    with pytest.raises(RuntimeError, match=r'parameters must be \(N, C\)'):
        torch.ops.mmact.pdelu_backward(x, g, torch.rand(2, 3), 0.9, False,
                                       True)


def _acon_grads(x, params, dtype=None):
    """(y, grad_x, grad_p1, grad_p2, grad_β) of the ACON-C op."""
    from mmact.ops.acon import acon_c
    x = x.detach().to(dtype or x.dtype).requires_grad_(True)
    params = [p.detach().to(dtype or p.dtype).requires_grad_(True)
              for p in params]
    y = acon_c(x, *params)
    g = torch.linspace(-1, 1, y.numel()).view(y.shape).to(y.dtype)
    return (y, *torch.autograd.grad(y, (x, *params), g))


def _acon_layouts():
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    x = r(3, 8, 9, 7) * 3
    per_c = [r(1, 8, 1, 1), r(1, 8, 1, 1)]
    return {  # name: (x, [p1, p2, β], fused backward expected)
        'nchw': (x, per_c + [r(1, 8, 1, 1).abs()], True),
        'meta_acon': (x, per_c + [r(3, 8, 1, 1).abs()], True),
        'channels_last': (x.contiguous(memory_format=torch.channels_last),
                          per_c + [r(3, 8, 1, 1).abs()], True),
        'tokens': (r(2, 50, 16), [r(16), r(16), r(16).abs()], True),
        'nhwc_per_sample': (r(2, 5, 6, 16), [r(16), r(16),
                                             r(2, 1, 1, 16).abs()], True),
        'acon_a': (x, [torch.ones(()), torch.zeros(()), r(1, 8, 1, 1)],
                   True),
        'long_rows': (r(2, 4, 100, 100), [r(1, 4, 1, 1), r(1, 4, 1, 1),
                                          r(2, 4, 1, 1)], True),
        'many_rows': (r(2, 3000, 24), [r(24), r(24), r(24)], True),
        'strided': (x.transpose(2, 3), per_c + [r(1, 8, 1, 1)], True),
        'two_dims': (x, [r(1, 8, 9, 1), r(1, 8, 1, 1), r(1, 8, 1, 1)],
                     False),
    }


@pytest.mark.parametrize('name', sorted(_acon_layouts()))
def test_acon_matches_float64(name):
    from mmact.ops._channels import layout
    x, params, fused = _acon_layouts()[name]
    assert (layout(x, params) is not None) == fused
    ref = _acon_grads(x, params, torch.float64)
    for kernels in (True, False):
        with cpu_kernels(kernels):
            out = _acon_grads(x, params)
        for o, r in zip(out, ref):
            assert o.shape == r.shape and o.dtype == torch.float32
            torch.testing.assert_close(o.double(), r, atol=1e-5,
                                       rtol=1e-5 if o.shape == x.shape
                                       else 1e-4)  # params: sums


def test_acon_kernel_specials_low_precision_and_empty():
    x = torch.tensor([float('nan'), float('inf'), -float('inf'), 0.0] * 3)
    params = [torch.tensor(1.5), torch.tensor(0.25), torch.tensor(1.0)]
    with cpu_kernels(True):
        y = _acon_grads(x, params)[0]
    with cpu_kernels(False):
        torch.testing.assert_close(y, _acon_grads(x, params)[0],
                                   equal_nan=True)
    for dtype in (torch.float16, torch.bfloat16):
        xl = (torch.randn(2, 4, 5, 5) * 3).to(dtype)
        params = [torch.randn(1, 4, 1, 1) for _ in range(3)]
        with cpu_kernels(True):
            out = _acon_grads(xl, params)
        assert out[0].dtype == torch.float32 and out[1].dtype == dtype
        ref = _acon_grads(xl.double(), params, torch.float64)
        torch.testing.assert_close(out[0].double(), ref[0], atol=1e-5,
                                   rtol=1e-5)
    e = torch.empty(0, 4, 3, 3)
    params = [torch.ones(1, 4, 1, 1) for _ in range(3)]
    with cpu_kernels(True):
        out = _acon_grads(e, params)
    assert out[1].shape == e.shape and all(p.abs().sum() == 0
                                           for p in out[2:])


def test_acon_ops_pass_opcheck_and_check_arguments():
    x, g = torch.randn(2, 3, 20), torch.randn(2, 3, 20)
    p = [torch.rand(2, 3) for _ in range(3)]
    torch.library.opcheck(torch.ops.mmact.acon_forward, (x, *p, False))
    torch.library.opcheck(torch.ops.mmact.acon_forward,
                          (x, *[torch.rand(2, 20) for _ in range(3)], True))
    torch.library.opcheck(torch.ops.mmact.acon_backward, (x, g, *p, False))
    torch.library.opcheck(torch.ops.mmact.acon_backward,
                          (x, g, *[torch.rand(2, 20) for _ in range(3)],
                           True))
    with pytest.raises(RuntimeError, match=r'parameters must be \(N, C\)'):
        torch.ops.mmact.acon_backward(x, g, *p, True)
    with pytest.raises(RuntimeError, match='parameters must be a contig'):
        torch.ops.mmact.acon_forward(x, *p[:2], p[2].double(), False)


@pytest.mark.parametrize('cfg', [dict(type='AconC', num_channels=8),
                                 dict(type='PDELU', num_channels=8)])
def test_acon_and_pdelu_trace_under_torch_compile(cfg):
    """The compiled ops have fake kernels: a whole graph, same numbers."""
    import mmact
    torch.manual_seed(0)
    act = mmact.build_activation(cfg)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    results = []
    for fn in (act, torch.compile(act, fullgraph=True)):
        x.grad = None
        act.zero_grad()
        y = fn(x)
        y.square().sum().backward()
        results.append([y, x.grad] + [p.grad for p in act.parameters()])
    for eager, compiled in zip(*results):
        torch.testing.assert_close(compiled, eager)


def test_a_build_older_than_the_sources_is_not_used(monkeypatch):
    """A stale mmact._C (ops missing) warns and leaves the PyTorch paths."""
    from mmact.ops import _backend
    assert _backend._load_cpu_kernels()
    monkeypatch.setattr(_backend, 'CPU_OPS',
                        _backend.CPU_OPS + ('gone_op', ))
    with pytest.warns(UserWarning, match='older than the sources .no '
                      'gone_op.*rebuild'):
        assert not _backend._load_cpu_kernels()


@pytest.mark.skipif(not CPU_KERNELS_BUILT or cpu_isa() != 'avx512',
                    reason='needs AVX-512')
@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
@pytest.mark.parametrize('scale', SPLIT_SCALES)
def test_ditac_avx512_and_avx2_kernels_agree(variant, scale):
    """Both compiled instruction sets: the same values and gradients to
    float32 rounding (their reciprocal estimates differ before the Newton
    step), the θ-histogram to rounding of its per-thread sums."""
    table, spec = ditac_case(variant, scale)
    x = torch.randn(70001) * 2
    x[:4] = torch.tensor([float('nan'), float('inf'), -1e4, spec.b])
    g = torch.randn_like(x)
    results = {}
    for isa in ('avx2', 'avx512'):
        with vector_isa(isa):
            assert cpu_isa() == isa
            results[isa] = _run(x, g, float_table(table), spec, True)
    (y2, gx2, gt2), (y5, gx5, gt5) = results['avx2'], results['avx512']
    torch.testing.assert_close(y5, y2, equal_nan=True, atol=1e-6, rtol=1e-6)
    # The gradient at ±inf or NaN is not a number either way; nor the
    # θ-gradient with them: compare without.
    torch.testing.assert_close(gx5[4:], gx2[4:], atol=1e-6, rtol=1e-6)
    _, _, gt2 = _run(x[4:], g[4:], float_table(table), spec, True)
    with vector_isa('avx512'):
        _, _, gt5 = _run(x[4:], g[4:], float_table(table), spec, True)
    torch.testing.assert_close(gt5, gt2, atol=1e-6, rtol=1e-5)


@pytest.mark.skipif(not CPU_KERNELS_BUILT, reason='mmact._C not built')
def test_isa_switch_is_validated():
    with pytest.raises(RuntimeError, match="isa must be 'avx2' or 'avx512'"):
        with vector_isa('sse2'):
            pass
    if cpu_isa() != 'avx512':
        with pytest.raises(RuntimeError, match='lacks AVX-512'):
            with vector_isa('avx512'):
                pass


@pytest.mark.parametrize('shape', [(16, 262144), (1, 70001), (5, 7), (3, 1),
                                   (2, 0)])
@pytest.mark.parametrize('unbiased', [True, False])
def test_layeract_statistics_match_float64(shape, unbiased):
    """Mean and 1/sqrt(var + α) per row against torch.var_mean in float64:
    long rows over many column blocks, a batch of one, short rows, one
    column (unbiased: NaN, as torch), none."""
    x = torch.randn(shape) * 3 + 10  # an offset: cancellation shows
    mean, rstd = torch.ops.mmact.layeract_statistics(x, 1e-5, unbiased)
    ref_mean, ref_rstd = (t.view(-1) for t in F_la.statistics(
        x.double(), 1e-5, unbiased))
    torch.testing.assert_close(mean.double(), ref_mean, equal_nan=True,
                               atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(rstd.double(), ref_rstd, equal_nan=True,
                               atol=0, rtol=1e-6)


def test_mish_kernels_match_float64():
    """Values and gradients against float64 F.mish, as accurate as torch's
    own float32 mish (within 1.5x); special values as torch gives them;
    the module takes the kernels unless in place."""
    import torch.nn.functional as F

    import mmact
    from mmact.ops.mish import MishFunction
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.linspace(-30, 30, 60001),
                   torch.randn(5000, generator=gen) * 3,
                   torch.tensor([19.99, 20.0, 20.01, 88.0, -88.0])])
    g = torch.randn(x.shape, generator=gen)
    xd = x.double().requires_grad_(True)
    F.mish(xd).backward(g.double())
    errors = {}
    for name, fn in (('kernel', MishFunction.apply), ('torch', F.mish)):
        xs = x.clone().requires_grad_(True)
        y = fn(xs)
        y.backward(g)
        # The derivative's error (per unit of g: where |g| is large
        # decides nothing).
        errors[name] = ((y.double() - F.mish(x.double())).abs().max(),
                        ((xs.grad.double() - xd.grad) / g).abs().max())
    for ours, theirs in zip(errors['kernel'], errors['torch']):
        assert ours <= 1.5 * theirs + 1e-7, errors
    special = torch.tensor([float('nan'), float('inf'), -float('inf'), 0.])
    torch.testing.assert_close(MishFunction.apply(special), F.mish(special),
                               equal_nan=True)
    act = mmact.build_activation(dict(type='Mish'))
    assert act(x.requires_grad_()).grad_fn.name() == 'MishFunctionBackward'
    inplace = mmact.build_activation(dict(type='Mish', inplace=True))
    assert inplace(x.detach().clone()).grad_fn is None
    torch.library.opcheck(torch.ops.mmact.mish_forward, (x[:100], ))
    torch.library.opcheck(torch.ops.mmact.mish_backward, (x[:100], g[:100]))
