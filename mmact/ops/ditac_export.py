"""DiTAC in graphs captured for export (ONNX, ``torch.export``).

A captured graph cannot call the op's kernels; it gets the op's function
of x as plain tensor operations on constants, in one of two forms:

* uniform (the usual one): q(x) = y(x) - base(x) tabulated at the points
  x_i = a + i h of a grid of step h = 2^-k that holds both window ends,
  read with one linear interpolation of the clipped x (a floor and two
  gathers). Outside the window q is constant, so clipping gives the
  variant's outside exactly. The base is GELU (DiTAC), max(GELU(x), x)
  (GE-DiTAC) or the two edge lines ('inf'); L-DiTAC tabulates x̃ - x and
  applies LeakyReLU after, so its kink at x̃ = 0 is not interpolated. The
  grid is the coarsest whose interpolation stays within
  ``EXPORT_TOLERANCE`` of the op, measured at every point of the op's
  refined table and at the grid's midpoints (both functions are linear in
  x̃ between those). x - x_i is exact in float32 (the x_i are multiples of
  h), so the interpolation keeps the table's precision where T is steep.
  About a dozen element-wise operators: in ONNX Runtime far cheaper than
  the refined lookup's ~57.
* refined: the op's own lookup (:func:`mmact.ops.ditac.ditac_reference`'s
  interpolation on the module's table), for windows whose ends are not
  multiples of 2^-``MAX_STEP_EXPONENT``, for θ whose uniform grid would
  need more than ``MAX_POINTS`` points, and for windows so far from 0 that
  float32 cannot hold the grid's points exactly.
"""
import math
import warnings
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ._backend import compute_dtype
from .ditac import (DiTACSpec, Table, _derived, _forward_chunk, _interpolate,
                    _locate, _lookup, table_points)

EXPORT_TOLERANCE = 1e-6
MIN_POINTS = 1 << 10
MAX_POINTS = 1 << 18
MAX_STEP_EXPONENT = 20
_MISSING = object()


class UniformTable(NamedTuple):
    """q at the grid's points and the slope to the next point (0 at the
    last), in the compute dtype; h = 2^-``exponent``; the slopes of the
    'inf' variant's lines outside the window (0 for the others)."""
    value: Tensor
    slope: Tensor
    exponent: int
    left: float
    right: float


def _exponent(value: float) -> Optional[int]:
    """The least k with value a multiple of 2^-k (None: none up to
    ``MAX_STEP_EXPONENT``)."""
    for k in range(MAX_STEP_EXPONENT + 1):
        if math.ldexp(value, k).is_integer():
            return k
    return None


def _tabulated(x: Tensor, table: Table, spec: DiTACSpec) -> Tensor:
    """q(x) in float64 as the op computes it, for x in the window (where
    the 'inf' base is zero)."""
    lt = _lookup(table, spec, torch.float64)
    if spec.variant == 'leaky':
        return _locate(x, lt, spec)[2] - x
    return _forward_chunk(x, lt, spec) - _base(x, spec, 0.0, 0.0)


def _base(x: Tensor, spec: DiTACSpec, left: float, right: float) -> Tensor:
    """The function outside the window that q is added to (not L-DiTAC's,
    whose LeakyReLU is applied after)."""
    if spec.variant == 'ditac':
        return F.gelu(x)
    if spec.variant == 'ge':
        return torch.maximum(F.gelu(x), x)
    return ((x - spec.a).clamp(max=0) * left +
            (x - spec.b).clamp(min=0) * right)


def prepare_uniform_table(table: Table, spec: DiTACSpec) -> None:
    """Build the uniform form of ``table`` (float32 and float64) for a
    later export; memoised with the table. It must exist before a graph is
    captured: under ``torch.export`` the table is a fake tensor."""
    form = _derived(table, ('uniform', spec),
                    lambda: _uniform_table(table, spec))
    for dtype in (torch.float32, torch.float64):
        _derived(table, ('uniform', spec, dtype), lambda: None if form is None
                 else form._replace(value=form.value.to(dtype),
                                    slope=form.slope.to(dtype)))


def _uniform_table(table: Table, spec: DiTACSpec) -> Optional[UniformTable]:
    a, b = spec.a, spec.b
    exps = [_exponent(a), _exponent(b)]
    if None in exps:
        return None
    k = max(exps + [math.ceil(math.log2(MIN_POINTS / (b - a)))])
    f64 = dict(dtype=torch.float64, device=table.T.device)
    left = right = 0.0
    if spec.variant == 'inf':  # the end segments' slopes, continued
        ends = torch.tensor([a - 1, a, b, b + 1], **f64)
        y = _forward_chunk(ends, _lookup(table, spec, torch.float64), spec)
        left, right = (y[1] - y[0]).item(), (y[3] - y[2]).item()
    inner = a + (b - a) * table_points(table.level).to(**f64)
    while True:
        n = round(math.ldexp(b - a, k))
        # float32 holds every x_i exactly only below 2^24 steps from 0.
        if n + 1 > MAX_POINTS or math.ldexp(max(abs(a), abs(b)), k) > 2**24:
            return None
        h = math.ldexp(1.0, -k)
        x = a + h * torch.arange(n + 1, **f64)
        q = _tabulated(x, table, spec)
        slope = torch.zeros_like(q)
        slope[:-1] = (q[1:] - q[:-1]) / h
        probe = torch.cat([inner, x[:-1] + h / 2])
        i = ((probe - a) / h).floor().clamp(0, n).long()
        lerp = q[i] + (probe - x[i]) * slope[i]
        if (lerp - _tabulated(probe, table, spec)).abs().max() \
                <= EXPORT_TOLERANCE:
            return UniformTable(q, slope, k, left, right)
        k += 1


def ditac_traced(x: Tensor, table: Table, spec: DiTACSpec) -> Tensor:
    """y as plain tensor operations on the table's constants, for graphs
    captured for export (computed in float32, float64 for float64 x)."""
    cd = compute_dtype(x)
    ut = (table.derived or {}).get(('uniform', spec, cd), _MISSING)
    if ut is _MISSING:
        warnings.warn(
            'DiTAC exported with its refined lookup: the uniform table, about '
            'a third of the ONNX operators, is built by '
            'mmact.prepare_export(model) before exporting')
    if ut is None or ut is _MISSING:
        return _interpolate(x, table.T, table.level, spec, cd)
    xd = x.to(cd)
    h = math.ldexp(1.0, -ut.exponent)
    xc = xd.clamp(spec.a, spec.b)
    i = torch.floor((xc - spec.a) * (1.0 / h))
    offset = xc - (i * h + spec.a)  # exact: i h + a is a multiple of h
    flat = i.to(torch.int64).reshape(-1)
    q = (torch.gather(ut.value, 0, flat).view(x.shape) +
         offset * torch.gather(ut.slope, 0, flat).view(x.shape))
    if spec.variant == 'leaky':
        y = F.leaky_relu(xd + q, spec.negative_slope)
    else:
        y = _base(xd, spec, ut.left, ut.right) + q
    return y.to(x.dtype)
