"""Triton ACON-C and PDELU kernels against float64 autograd on the plain
formulas (interpreter on CPU, the real kernels on a GPU): NCHW,
channels-last, (B, L, C) tokens, scalar parameters."""
import importlib

import pytest
import torch

from mmact.functional import acon as F_acon
from mmact.functional.elementwise import pdelu as F_pdelu
from mmact.ops import acon
from mmact.ops._channels import fused_backward, reduce_to

pdelu = importlib.import_module('mmact.ops.pdelu')  # the package exports
# the function pdelu under the module's name

pytestmark = pytest.mark.skipif(acon.triton is None, reason='no triton')
DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'


def _case(layout):
    g = torch.Generator().manual_seed(0)
    if layout == 'tokens':
        x = torch.randn(2, 37, 40, generator=g) * 2
        pshape = (40, )
    else:
        x = torch.randn(2, 40, 7, 9, generator=g) * 2
        pshape = (1, 40, 1, 1)
    if layout == 'channels_last':
        x = x.to(memory_format=torch.channels_last)
    if layout == 'scalar':
        pshape = ()
    return x, pshape, g


def _reference(fn, x, params, grad):
    xs = [t.double().requires_grad_() for t in (x, *params)]
    y = fn(*xs)
    return y.detach(), torch.autograd.grad(y, xs, grad.double())


@pytest.mark.parametrize('layout', ['nchw', 'channels_last', 'tokens',
                                    'scalar'])
def test_acon_kernels_match_float64_autograd(layout):
    x, pshape, g = _case(layout)
    params = [torch.randn(pshape, generator=g) for _ in range(3)]
    grad = torch.randn(x.shape, generator=g)
    y = acon.triton_forward(x.to(DEVICE), *[p.to(DEVICE) for p in params])
    ref_y, ref_grads = _reference(F_acon.acon_c, x, params, grad)
    torch.testing.assert_close(y.cpu().double(), ref_y, atol=1e-5,
                               rtol=1e-5)
    if layout == 'channels_last':
        assert y.stride() == x.stride()
    dev = [p.to(DEVICE) for p in params]
    gx, sums, lay = fused_backward(acon.triton_backward, x.to(DEVICE),
                                   grad.to(DEVICE), dev)
    terms = (sums[..., 0], sums[..., 1] - sums[..., 0], sums[..., 2])
    torch.testing.assert_close(gx.cpu().double(), ref_grads[0], atol=1e-4,
                               rtol=1e-4)
    for term, p, expected in zip(terms, dev, ref_grads[1:]):
        torch.testing.assert_close(
            reduce_to(term, p, lay.dim, x.dim()).cpu().double(), expected,
            atol=1e-3, rtol=1e-4)
    again = fused_backward(acon.triton_backward, x.to(DEVICE),
                           grad.to(DEVICE), dev)
    assert torch.equal(again[1], sums)  # no atomics: same bits


@pytest.mark.parametrize('t', [0.9, 1.5, 1.0])
@pytest.mark.parametrize('layout', ['nchw', 'channels_last', 'tokens',
                                    'scalar'])
def test_pdelu_kernels_match_float64_autograd(layout, t):
    x, pshape, g = _case(layout)
    x[0, :3] = torch.tensor(-20.0)  # past the saturation at -1 / (1 - t)
    alpha = torch.rand(pshape, generator=g) + 0.5
    grad = torch.randn(x.shape, generator=g)
    y = pdelu.triton_forward(x.to(DEVICE), alpha.to(DEVICE), t)
    ref_y, (ref_gx, ref_ga) = _reference(
        lambda x, a: F_pdelu(x, a, t), x, [alpha], grad)
    torch.testing.assert_close(y.cpu().double(), ref_y, atol=1e-5,
                               rtol=1e-5)
    gx, sums, lay = fused_backward(
        pdelu.triton_backward, x.to(DEVICE), grad.to(DEVICE),
        [alpha.to(DEVICE)], t, pdelu._elu_limit(t))
    torch.testing.assert_close(gx.cpu().double(), ref_gx, atol=1e-4,
                               rtol=1e-4)
    torch.testing.assert_close(
        reduce_to(sums[..., 0], alpha.to(DEVICE), lay.dim,
                  x.dim()).cpu().double(), ref_ga, atol=1e-3, rtol=1e-4)


def test_layouts_the_kernels_do_not_take_return_none():
    x = torch.randn(2, 3, 4, 5).transpose(1, 3)
    p = torch.randn(1, 5, 1, 3)  # varies along two dims
    assert acon.triton_forward(x, p, p, p) is None
    assert pdelu.triton_forward(x, p, 0.9) is None
