"""DiTAC (Chelly et al., ECCV 2024): variants, tables, prior — pure functions.

With window [a, b] and u = (x - a) / (b - a), the warped input is
x̃ = a + (b - a) T_θ(u). The variants combine it with a base function:

* ``'ditac'``  (DiTAC, GELU-like): y = x̃ Φ(x) in the window, x Φ(x)
  outside; Φ is evaluated at the original x. θ = 0 is exactly GELU.
* ``'ge'``     (GE-DiTAC): GELU for x < 0, x̃ in the window (a >= 0), x
  elsewhere.
* ``'leaky'``  (L-DiTAC): LeakyReLU(x̃), x̃ = x outside the window. This is
  the paper's "T in [a, b], LeakyReLU outside" for a >= 0 and stays
  continuous when a < 0 (where the paper's form jumps at a); θ = 0 is
  exactly LeakyReLU.
* ``'inf'``    (inf-DiTAC): y = x̃ everywhere, the velocity field is free at
  the boundary, and outside the window x̃ continues along the table's end
  segments: the edge cells' affine flows (exactly, whenever the boundary
  point's trajectory stays in its edge cell) — continuous and increasing.

The op (:mod:`mmact.ops.ditac`) interpolates a table of G values of T on a
uniform grid of Ω (linearly, not by nearest rounding) and keeps the table
of dT/dθ for the θ-gradient; :func:`ditac_exact` is the closed-form
reference.
"""
import torch
from torch import Tensor

from . import cpab

VARIANTS = ('ditac', 'ge', 'leaky', 'inf')


def zero_boundary(variant: str) -> bool:
    """Whether a variant's velocity field vanishes at the window's ends."""
    return variant != 'inf'


def ditac_exact(x: Tensor, theta: Tensor, a: float, b: float,
                num_cells: int, variant: str,
                negative_slope: float = 0.01) -> Tensor:
    """DiTAC in float64 from the closed-form CPAB integral (no table)."""
    x = x.to(torch.float64)
    u = (x - a) / (b - a)
    inside = (x >= a) & (x <= b)
    if variant == 'inf':
        T = _extrapolated_exact(u, theta, num_cells)
    else:
        T = cpab.integrate(u.clamp(0, 1), theta, num_cells, True).T
    warped = a + (b - a) * T
    return _combine(x, torch.where(inside | (variant == 'inf'), warped, x),
                    variant, negative_slope)


def _extrapolated_exact(u: Tensor, theta: Tensor, num_cells: int) -> Tensor:
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64, device=u.device)
    flow = cpab.integrate(ends, theta, num_cells, False)
    T = cpab.integrate(u.clamp(0, 1), theta, num_cells, False).T
    left = flow.T[0] + flow.grad_u[0] * u
    right = flow.T[1] + flow.grad_u[1] * (u - 1)
    return torch.where(u < 0, left, torch.where(u > 1, right, T))


def _combine(x: Tensor, warped: Tensor, variant: str,
             negative_slope: float) -> Tensor:
    if variant == 'ditac':
        return warped * torch.special.ndtr(x)
    if variant == 'ge':
        return torch.where(x < 0, x * torch.special.ndtr(x), warped)
    if variant == 'leaky':
        return torch.where(warped >= 0, warped, negative_slope * warped)
    return warped


def prior_covariance(num_cells: int,
                     variant: str,
                     length_scale: float = 0.3,
                     variance: float = 0.035) -> Tensor:
    """Smoothness prior Σ of θ (float64): a squared-exponential Gaussian
    process on the velocities at θ's vertices (spec §5).

    The defaults make a draw move points by max |T(u) - u| ≈ 0.2 of the
    window (median), like the official prior's random start, with a
    smoother field (length scale 0.3 of the window rather than one cell).
    """
    zb = zero_boundary(variant)
    first = 1 if zb else 0
    d = cpab.theta_dim(num_cells, zb)
    vertices = (torch.arange(d, dtype=torch.float64) + first) / num_cells
    dist2 = (vertices[:, None] - vertices[None, :])**2
    return variance * torch.exp(-dist2 / (2 * length_scale**2))


def prior_precision(num_cells: int, variant: str, length_scale: float = 0.3,
                    variance: float = 0.035) -> Tensor:
    """Σ⁻¹ for the regulariser θᵀ Σ⁻¹ θ (with a 1e-6 relative jitter)."""
    cov = prior_covariance(num_cells, variant, length_scale, variance)
    cov = cov + 1e-6 * variance * torch.eye(len(cov), dtype=cov.dtype)
    return torch.linalg.inv(cov)


def max_displacement(theta: Tensor, num_cells: int, variant: str,
                     points: int = 1025) -> float:
    """max |T(u) - u| on Ω: how far θ is from the identity warp."""
    u = torch.linspace(0, 1, points, dtype=torch.float64)
    T = cpab.integrate(u, theta, num_cells, zero_boundary(variant)).T
    return float((T - u).abs().max())
