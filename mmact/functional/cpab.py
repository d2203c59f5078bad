"""One-dimensional CPAB transformations in closed form (pure functions).

Ω = [0, 1] is split into ``nc`` equal cells; the velocity field v is
continuous and affine in each cell, v(u) = a_c u + b_c. T_θ(u) = φ(u, t)
integrates dφ/dτ = v(φ) for time t (1 by default). Everything here works
in float64 on any device and is vectorised over points (the only Python
loop is over cell hops, at most ``nc`` of them).

Parametrisation (deterministic, library independent): θ holds the velocity
at the tessellation's vertices x_k = k / nc. With ``zero_boundary`` the end
velocities are 0 and θ ∈ R^(nc-1) holds the interior vertices x_1..x_(nc-1);
without it θ ∈ R^(nc+1) holds all of them. Cell c then has
a_c = (v_(c+1) - v_c) nc and b_c = v_c - a_c x_c, i.e. A = Bθ with
A = [a_0, b_0, a_1, b_1, ...] and B from :func:`basis`. A checkpoint's θ
is therefore meaningful on its own: it is a velocity field.

Outside Ω the edge cells' affine fields continue (the domain boundary is
never an exit vertex), which is what inf-DiTAC extends to ±∞.

:func:`integrate` is plain torch in θ: a θ that requires grad gets T by
autograd to any order (the hop decisions are piecewise constant, the
closed forms smooth), which is what DiTAC's double backward differentiates;
``with_grad_theta`` gives the first derivative without a graph.
"""
import math
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

# Series branches below this magnitude: their truncation error is
# O(eps^4) ≈ 1e-14, and the direct forms lose ~1e-13 just above it.
SERIES_EPS = 1e-3


def theta_dim(nc: int, zero_boundary: bool = True) -> int:
    """Length of θ for ``nc`` cells."""
    return nc - 1 if zero_boundary else nc + 1


def num_cells(d: int, zero_boundary: bool = True) -> int:
    """Cells for a θ of length ``d`` (inverse of :func:`theta_dim`)."""
    return d + 1 if zero_boundary else d - 1


def basis(nc: int,
          zero_boundary: bool = True,
          dtype: torch.dtype = torch.float64,
          device: Optional[torch.device] = None) -> Tensor:
    """B (2nc x d) with A = Bθ, θ = vertex velocities (module docstring)."""
    if nc < 1:
        raise ValueError(f'nc must be >= 1, got {nc}')
    d = theta_dim(nc, zero_boundary)
    first = 1 if zero_boundary else 0
    # P maps θ to the nc + 1 vertex velocities.
    vertex = torch.zeros(nc + 1, d, dtype=torch.float64)
    vertex[first:first + d] = torch.eye(d, dtype=torch.float64)
    slope = (vertex[1:] - vertex[:-1]) * nc
    left = torch.arange(nc, dtype=torch.float64)[:, None] / nc
    intercept = vertex[:-1] - slope * left
    return torch.stack([slope, intercept], 1).reshape(2 * nc, d).to(
        dtype=dtype, device=device)


def velocity(u: Tensor, A: Tensor) -> Tensor:
    """v(u) for the CPA field with coefficients A = [a_0, b_0, ...]."""
    nc = A.numel() // 2
    c = cell_index(u, nc)
    return A[0::2][c] * u + A[1::2][c]


def cell_index(u: Tensor, nc: int) -> Tensor:
    """Cell of each point; points outside Ω belong to the edge cells."""
    return torch.clamp(torch.floor(u * nc), 0, nc - 1).long()


def phi1(z: Tensor) -> Tensor:
    """expm1(z) / z, 1 at z = 0."""
    small = z.abs() < SERIES_EPS
    zs = torch.where(small, torch.ones_like(z), z)
    series = 1 + z / 2 + z * z / 6 + z**3 / 24
    return torch.where(small, series, torch.expm1(zs) / zs)


def dphi1(z: Tensor) -> Tensor:
    """d/dz phi1(z) = (z e^z - expm1(z)) / z^2, 1/2 at z = 0."""
    small = z.abs() < SERIES_EPS
    zs = torch.where(small, torch.ones_like(z), z)
    series = 0.5 + z / 3 + z * z / 8 + z**3 / 30
    return torch.where(small, series,
                       (zs * torch.exp(zs) - torch.expm1(zs)) / (zs * zs))


def _log1p_over(w: Tensor) -> Tensor:
    """log1p(w) / w, 1 at w = 0."""
    small = w.abs() < SERIES_EPS
    ws = torch.where(small, torch.ones_like(w), w)
    series = 1 - w / 2 + w * w / 3 - w**3 / 4
    return torch.where(small, series, torch.log1p(ws) / ws)


def _g(w: Tensor) -> Tensor:
    """(w / (1 + w) - log1p(w)) / w^2, -1/2 at w = 0."""
    small = w.abs() < SERIES_EPS
    ws = torch.where(small, torch.ones_like(w), w)
    series = -0.5 + 2 * w / 3 - 0.75 * w * w + 0.8 * w**3
    return torch.where(small, series,
                       (ws / (1 + ws) - torch.log1p(ws)) / (ws * ws))


def psi(u: Tensor, t: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Flow inside one cell for time t: u + t v(u) phi1(t a)."""
    return u + t * (a * u + b) * phi1(t * a)


def coefficients(theta: Tensor, nc: int, zero_boundary: bool,
                 device: Optional[torch.device] = None) -> Tuple[Tensor, ...]:
    """(A, B) in float64 on ``device``: A = Bθ, B from :func:`basis`;
    checks θ's shape."""
    B = basis(nc, zero_boundary, device=device)
    if theta.shape != (B.shape[1], ):
        raise ValueError(f'theta must have shape ({B.shape[1]},) for nc={nc}, '
                         f'zero_boundary={zero_boundary}; got '
                         f'{tuple(theta.shape)}')
    return B @ theta.to(dtype=torch.float64, device=device), B


class Flow(NamedTuple):
    """Result of :func:`integrate`.

    T: end points. grad_u: dT/du. grad_theta: dT/dθ (n x d), or None.
    """
    T: Tensor
    grad_u: Tensor
    grad_theta: Optional[Tensor]


def integrate(u: Tensor,
              theta: Tensor,
              nc: int,
              zero_boundary: bool = True,
              t: float = 1.0,
              with_grad_theta: bool = False) -> Flow:
    """T_θ(u) by closed-form integration with cell hopping, and derivatives.

    Args:
        u: Points (any shape; computed in float64).
        theta: Vertex velocities (d,), see :func:`basis`.
        nc: Number of cells.
        zero_boundary: Whether v(0) = v(1) = 0 (θ then has nc - 1 entries).
        t: Integration time.
        with_grad_theta: Also return dT/dθ (n x d for n points).
    """
    shape = u.shape
    x = u.detach().reshape(-1).to(torch.float64)
    A, B = coefficients(theta, nc, zero_boundary, x.device)
    a_all, b_all = A[0::2], A[1::2]
    alpha, beta = B[0::2], B[1::2]  # (nc, d): da_c/dθ and db_c/dθ

    start = x
    c = cell_index(x, nc)
    tau = torch.full_like(x, t)
    hopped = torch.zeros_like(x, dtype=torch.bool)
    dtau = torch.zeros(x.numel(), B.shape[1], dtype=torch.float64,
                       device=x.device) if with_grad_theta else None
    for _ in range(nc + 1):
        a, b = a_all[c], b_all[c]
        v = a * x + b
        right = v > 0
        exit_x = (c + right.long()).to(torch.float64) / nc
        v_exit = a * exit_x + b
        boundary = (right & (c == nc - 1)) | (~right & (c == 0))
        can_exit = (v != 0) & (v * v_exit > 0) & ~boundary
        delta = exit_x - x
        v_safe = torch.where(can_exit, v, torch.ones_like(v))
        w = torch.where(can_exit, a * delta / v_safe, torch.zeros_like(v))
        t_hit = torch.where(can_exit, delta / v_safe * _log1p_over(w),
                            torch.full_like(v, math.inf))
        # No early exit when nothing hops: a fixed trip count keeps the
        # function traceable (torch.compile) and costs nothing at G ~ 2k.
        hop = t_hit < tau
        if with_grad_theta:
            v_exit_safe = torch.where(can_exit, v_exit, torch.ones_like(v))
            dt_db = -delta / (v_safe * v_exit_safe)
            dt_da = (delta / v_safe)**2 * _g(w) - delta * x / (
                v_safe * v_exit_safe)
            dt = dt_da[:, None] * alpha[c] + dt_db[:, None] * beta[c]
            dtau = dtau - torch.where(hop[:, None], dt, torch.zeros_like(dt))
        tau = torch.where(hop, tau - t_hit, tau)
        x = torch.where(hop, exit_x, x)
        c = torch.where(hop, c + torch.where(right, 1, -1), c)
        hopped |= hop
    a, b = a_all[c], b_all[c]
    T = psi(x, tau, a, b)
    v_T = a * T + b  # T stays in the cell where the flow stopped
    v_start = velocity(start, A)
    grad_u = torch.where(
        hopped, v_T / torch.where(hopped, v_start, torch.ones_like(v_start)),
        torch.exp(tau * a))
    grad_theta = None
    if with_grad_theta:
        z = tau * a
        dpsi_db = tau * phi1(z)
        dpsi_da = tau * x * phi1(z) + tau * tau * (a * x + b) * dphi1(z)
        grad_theta = (dpsi_da[:, None] * alpha[c] + dpsi_db[:, None] * beta[c]
                      + v_T[:, None] * dtau)
        grad_theta = grad_theta.reshape(*shape, -1)
    return Flow(T.reshape(shape), grad_u.reshape(shape), grad_theta)
