"""Triton DiTAC kernels against the PyTorch path (interpreter on CPU)."""
import pytest
import torch
from toy import DITAC_WINDOWS, ditac_case

from mmact.ops import ditac as op

pytestmark = pytest.mark.skipif(op.triton is None, reason='no triton')
DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'


@pytest.mark.parametrize('variant', sorted(DITAC_WINDOWS))
def test_kernels_match_pytorch_path(variant):
    T, J, spec = ditac_case(variant)
    x = torch.randn(3000) * 2
    x[:4] = torch.tensor([float('nan'), 1e4, -1e4, spec.a])
    g = torch.randn_like(x)
    lt = op.lerp_table(T.float(), spec)
    lt_dev = op.lerp_table(T.float().to(DEVICE), spec)
    y = op.triton_forward(x.to(DEVICE), lt_dev, spec)
    torch.testing.assert_close(y.cpu(), op.ditac_forward(x, T, spec),
                               equal_nan=True, atol=1e-5, rtol=1e-5)
    x, g = x[1:], g[1:]  # a NaN input makes the θ-gradient NaN
    gx, hist = op.triton_backward(x.to(DEVICE), g.to(DEVICE), lt_dev, spec)
    gt = op.theta_grad(hist[:, 0].cpu(), hist[:, 1].cpu(), J, lt, spec)
    rgx, rgt = op.ditac_backward(x, g, T, J, spec)
    torch.testing.assert_close(gx.cpu(), rgx, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gt, rgt, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision_io(dtype):
    T, J, spec = ditac_case('ditac')
    x = (torch.randn(2, 4, 8, 8) * 2).to(dtype)
    lt = op.lerp_table(T.float().to(DEVICE), spec)
    y = op.triton_forward(x.to(DEVICE), lt, spec)
    assert y.dtype == dtype
    torch.testing.assert_close(y.cpu(), op.ditac_forward(x, T, spec))


def test_layouts_without_copies():
    T, J, spec = ditac_case('ditac')
    lt = op.lerp_table(T.float().to(DEVICE), spec)
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
