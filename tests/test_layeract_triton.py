"""Triton LayerAct kernels against the PyTorch reference (interpreter on
CPU, the real kernels on a GPU)."""
import pytest
import torch

from mmact.functional import layeract as F_la
from mmact.ops import layeract as op

pytestmark = pytest.mark.skipif(op.triton is None, reason='no triton')
DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'


@pytest.mark.parametrize('kind', F_la.SCALES)
@pytest.mark.parametrize('unbiased', [True, False])
@pytest.mark.parametrize('shape', [(3, 1500), (2, 7)])
def test_kernels_match_reference(kind, unbiased, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape) * 2
    g = torch.randn_like(x)
    mean, rstd = F_la.statistics(x, 1e-5, unbiased)
    y = op.triton_forward(x.to(DEVICE), mean.to(DEVICE), rstd.to(DEVICE),
                          kind)
    dx = op.triton_backward(x.to(DEVICE), g.to(DEVICE), mean.to(DEVICE),
                            rstd.to(DEVICE), kind, unbiased)
    xr = x.double().requires_grad_(True)
    ref = F_la.layer_act(xr, kind, 1e-5, unbiased)
    (ref_dx, ) = torch.autograd.grad(ref, xr, g.double())
    torch.testing.assert_close(y.cpu().double(), ref.detach(), atol=1e-5,
                               rtol=1e-5)
    torch.testing.assert_close(dx.cpu().double(), ref_dx, atol=1e-4,
                               rtol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_module_on_gpu_matches_cpu(dtype):
    from mmact.modules import LASiLU
    x = torch.randn(4, 32, 16, 16).to(dtype)
    xc = x.float().requires_grad_(True)
    xg = x.cuda().requires_grad_(True)
    LASiLU()(xc).square().sum().backward()
    yg = LASiLU()(xg)
    assert yg.dtype == dtype
    yg.float().square().sum().backward()
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(xg.grad.float().cpu(), xc.grad, atol=tol,
                               rtol=tol)


def test_deterministic_row_sums_are_reproducible():
    torch.manual_seed(0)
    x = torch.randn(3, 2500) * 2
    g = torch.randn_like(x)
    mean, rstd = F_la.statistics(x, 1e-5, True)
    args = (x.to(DEVICE), g.to(DEVICE), mean.to(DEVICE), rstd.to(DEVICE),
            'silu', True)
    atomic = op.triton_backward(*args)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        first, second = op.triton_backward(*args), op.triton_backward(*args)
    finally:
        torch.use_deterministic_algorithms(previous)
    assert torch.equal(first, second)
    torch.testing.assert_close(first, atomic, atol=1e-5, rtol=1e-5)
