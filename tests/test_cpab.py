"""CPAB core against independent oracles: RK4, finite differences, difw."""
import numpy as np
import pytest
import torch

from mmact.functional import cpab

NC = 10


def _theta(zero_boundary, scale=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = cpab.theta_dim(NC, zero_boundary)
    return torch.randn(d, generator=g, dtype=torch.float64) * scale


def _points(lo=0.0, hi=1.0, n=300, seed=1):
    # Random points: grids would land exactly on vertices, where central
    # differences straddle a kink of T''.
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)


def _rk4(u, theta, zero_boundary, steps=20000):
    A = cpab.basis(NC, zero_boundary) @ theta
    x, h = u.clone(), 1.0 / steps
    for _ in range(steps):
        k1 = cpab.velocity(x, A)
        k2 = cpab.velocity(x + h / 2 * k1, A)
        k3 = cpab.velocity(x + h / 2 * k2, A)
        k4 = cpab.velocity(x + h * k3, A)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def test_basis_is_vertex_velocity():
    theta = _theta(True)
    A = cpab.basis(NC, True) @ theta
    vertices = torch.arange(NC + 1, dtype=torch.float64) / NC
    v = cpab.velocity(vertices, A)
    torch.testing.assert_close(v[1:-1], theta)
    assert v[0] == 0 and abs(v[-1]) < 1e-15
    # Continuity: both neighbouring cells give the same vertex velocity.
    a, b = A[0::2], A[1::2]
    torch.testing.assert_close(a[:-1] * vertices[1:-1] + b[:-1],
                               a[1:] * vertices[1:-1] + b[1:])
    assert cpab.basis(NC, False).shape == (2 * NC, NC + 1)


@pytest.mark.parametrize('zero_boundary', [True, False])
def test_integral_matches_runge_kutta(zero_boundary):
    theta = _theta(zero_boundary)
    u = _points(-0.2 if not zero_boundary else 0, 1.2 if not zero_boundary
                else 1, n=200)
    T = cpab.integrate(u, theta, NC, zero_boundary).T
    torch.testing.assert_close(T, _rk4(u, theta, zero_boundary), atol=1e-9,
                               rtol=0)


def test_properties():
    theta = _theta(True, scale=0.5)
    u = torch.linspace(0, 1, 2001, dtype=torch.float64)
    T = cpab.integrate(u, theta, NC).T
    assert T[0] == 0 and T[-1] == 1
    assert (T[1:] > T[:-1]).all()
    zero = torch.zeros_like(theta)
    assert torch.equal(cpab.integrate(u, zero, NC).T, u)


@pytest.mark.parametrize('zero_boundary', [True, False])
def test_derivatives_match_central_differences(zero_boundary):
    theta = _theta(zero_boundary)
    u = _points(n=200)
    flow = cpab.integrate(u, theta, NC, zero_boundary, with_grad_theta=True)
    eps = 1e-6
    fd_u = (cpab.integrate(u + eps, theta, NC, zero_boundary).T -
            cpab.integrate(u - eps, theta, NC, zero_boundary).T) / (2 * eps)
    torch.testing.assert_close(flow.grad_u, fd_u, atol=1e-7, rtol=1e-6)
    fd_theta = torch.stack([
        (cpab.integrate(u, theta + eps * e, NC, zero_boundary).T -
         cpab.integrate(u, theta - eps * e, NC, zero_boundary).T) / (2 * eps)
        for e in torch.eye(len(theta), dtype=torch.float64)
    ], -1)
    torch.testing.assert_close(flow.grad_theta, fd_theta, atol=1e-7,
                               rtol=1e-6)
    assert (flow.grad_u > 0).all()


@pytest.mark.parametrize('t', [1.0, 2.5])
@pytest.mark.parametrize('zero_boundary', [True, False])
def test_autograd_in_theta_matches_closed_form_and_differences(
        zero_boundary, t):
    """integrate is differentiable in θ by autograd: its first derivative
    is the closed-form dT/dθ, its second passes finite differences."""
    theta = _theta(zero_boundary, scale=0.6).requires_grad_(True)
    u = _points(n=40)
    flow = cpab.integrate(u, theta.detach(), NC, zero_boundary, t,
                          with_grad_theta=True)
    jac = torch.autograd.functional.jacobian(
        lambda th: cpab.integrate(u, th, NC, zero_boundary, t).T, theta)
    torch.testing.assert_close(jac, flow.grad_theta, atol=1e-12, rtol=1e-10)
    assert torch.autograd.gradgradcheck(
        lambda th: cpab.integrate(u, th, NC, zero_boundary, t).T, (theta, ))


def test_stable_near_zero_slope_and_zero_velocity():
    # Cells with a_c ~ 1e-9 (series branches) against a_c = 1e-2 scaled
    # limits, and a fixed point (v = 0) inside a cell.
    theta = torch.full((NC - 1, ), 0.2, dtype=torch.float64)
    theta[4] += 1e-10
    u = _points(n=100)
    flow = cpab.integrate(u, theta, NC, with_grad_theta=True)
    assert torch.isfinite(flow.grad_theta).all()
    torch.testing.assert_close(flow.T, _rk4(u, theta, True), atol=1e-9,
                               rtol=0)
    theta = torch.tensor([0.1, -0.1] * 4 + [0.1], dtype=torch.float64)
    flow = cpab.integrate(u, theta, NC, with_grad_theta=True)
    assert torch.isfinite(flow.grad_theta).all()
    torch.testing.assert_close(flow.T, _rk4(u, theta, True), atol=1e-9,
                               rtol=0)


def test_matches_difw_numpy_backend():
    difw = pytest.importorskip('difw')
    T = difw.Cpab(NC, backend='numpy', device='cpu', zero_boundary=True,
                  basis='qr')
    rng = np.random.default_rng(0)
    theta_difw = rng.normal(size=(1, NC - 1)) * 0.5
    grid = np.linspace(0, 1, 257)
    # Convert difw's θ (its own QR basis) to ours: the vertex velocities.
    B_difw = np.asarray(T.params.B)
    vertices = np.arange(1, NC) / NC
    to_ours = np.stack([B_difw[2 * (k - 1)] * vertices[k - 1] +
                        B_difw[2 * (k - 1) + 1] for k in range(1, NC)])
    theta = torch.from_numpy(to_ours @ theta_difw[0])
    ours = cpab.integrate(torch.from_numpy(grid), theta, NC,
                          with_grad_theta=True)
    np.testing.assert_allclose(ours.T.numpy(),
                               T.transform_grid(grid, theta_difw).ravel(),
                               atol=1e-10)
    grad_difw = np.asarray(T.gradient_grid(grid, theta_difw))[0]
    np.testing.assert_allclose(ours.grad_theta.numpy() @ to_ours, grad_difw,
                               atol=1e-6)


# ------------------------------------------------ kernels (mmact.ops.cpab)
def _kernels():
    """(name, integrate) of each kernel this machine can run."""
    from mmact.ops import cpab as op
    from mmact.ops._backend import CPU_KERNELS_BUILT
    found = []
    if CPU_KERNELS_BUILT:
        found.append(('cpu', op.integrate))
    if op.triton is not None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'

        def triton_integrate(u, theta, nc, zb, t, with_grad):
            A, B = cpab.coefficients(theta, nc, zb, device)
            out = op._triton_integrate(u.to(device).contiguous(), A, B, t,
                                       with_grad)
            return cpab.Flow(out[0].cpu(), out[1].cpu(),
                             out[2].cpu() if with_grad else None)

        found.append(('triton', triton_integrate))
    return found


KERNELS = _kernels()


@pytest.mark.parametrize('name,kernel', KERNELS, ids=[k for k, _ in KERNELS])
@pytest.mark.parametrize('zero_boundary', [True, False])
@pytest.mark.parametrize('scale,t', [(0.3, 1.0), (2.0, 1.0), (0.5, 2.5)])
def test_kernel_matches_reference(name, kernel, zero_boundary, scale, t):
    # scale 2: fast fields, points hop across most cells; t 2.5: longer
    # flows. Points outside Ω continue the edge cells' fields.
    theta = _theta(zero_boundary, scale=scale, seed=int(scale * 10))
    u = torch.cat([_points(-0.3, 1.3, n=500),
                   torch.linspace(0, 1, NC + 1, dtype=torch.float64)])
    ref = cpab.integrate(u, theta, NC, zero_boundary, t, True)
    out = kernel(u, theta, NC, zero_boundary, t, True)
    torch.testing.assert_close(out.T, ref.T, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(out.grad_u, ref.grad_u, atol=1e-10,
                               rtol=1e-10)
    torch.testing.assert_close(out.grad_theta, ref.grad_theta, atol=1e-10,
                               rtol=1e-10)
    assert kernel(u, theta, NC, zero_boundary, t, False).grad_theta is None


@pytest.mark.parametrize('name,kernel', KERNELS, ids=[k for k, _ in KERNELS])
def test_kernel_series_branches_and_fixed_points(name, kernel):
    # Near-zero slopes (series forms) and a zero of v inside a cell.
    u = _points(n=100)
    for theta in (torch.full((NC - 1, ), 0.2, dtype=torch.float64),
                  torch.tensor([0.1, -0.1] * 4 + [0.1],
                               dtype=torch.float64)):
        theta[4] += 1e-10
        ref = cpab.integrate(u, theta, NC, True, 1.0, True)
        out = kernel(u, theta, NC, True, 1.0, True)
        torch.testing.assert_close(out.T, ref.T, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(out.grad_theta, ref.grad_theta,
                                   atol=1e-10, rtol=1e-10)
    zero = torch.zeros(NC - 1, dtype=torch.float64)
    assert torch.equal(kernel(u, zero, NC, True, 1.0, False).T, u)


@pytest.mark.skipif(not any(k == 'cpu' for k, _ in KERNELS),
                    reason='mmact._C not built')
def test_cpu_kernel_dispatch_and_errors():
    from mmact.ops import cpab as op
    from mmact.ops._backend import cpu_kernels
    theta = _theta(True)
    u = torch.linspace(0, 1, 7, dtype=torch.float64).view(7, 1)
    flow = op.integrate(u, theta, NC, with_grad_theta=True)
    assert flow.T.shape == (7, 1) and flow.grad_theta.shape == (7, 1, NC - 1)
    with cpu_kernels(False):  # the switch also covers this op
        assert op.integrate(u, theta, NC).T.shape == (7, 1)
    with pytest.raises(ValueError, match=r'theta must have shape \(9,\)'):
        op.integrate(u, theta[:5], NC)
    A, B = cpab.coefficients(theta, NC, True)
    with pytest.raises(RuntimeError, match='u must be a contiguous float64'):
        torch.ops.mmact.cpab_integrate(u.view(-1).float(), A, B, 1.0, False)
    with pytest.raises(RuntimeError, match='A must hold 2 nc coefficients'):
        torch.ops.mmact.cpab_integrate(u.view(-1), A[:-1], B, 1.0, False)
    torch.library.opcheck(torch.ops.mmact.cpab_integrate,
                          (u.view(-1), A, B.contiguous(), 1.0, True))
