"""PReLU and RReLU: mmact's subclasses of torch's modules, under mmcv's
names, against torch's own ops (float64) and an independent Philox."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer
from mmengine.registry import MODELS
from torch import nn

import mmact
from mmact.modules import PReLU, RReLU
from mmact.ops._backend import CPU_KERNELS_BUILT, cpu_kernels
from mmact.ops.prelu import prelu
from mmact.ops.rrelu import rrelu

kernels = pytest.mark.skipif(not CPU_KERNELS_BUILT,
                             reason='mmact._C not built')


def test_mmcv_names_build_the_drop_in_subclasses():
    assert MODELS.get('PReLU') is PReLU and MODELS.get('RReLU') is RReLU
    p = build_activation_layer(dict(type='PReLU', num_parameters=4,
                                    init=0.1))
    assert isinstance(p, nn.PReLU) and p.weight.shape == (4, )
    r = ConvModule(3, 4, 3, act_cfg=dict(type='RReLU')).activate
    assert isinstance(r, nn.RReLU) and r.inplace  # ConvModule's injection
    info = {i.name: i for i in mmact.list_activations()}
    assert info['PReLU'].source == 'mmact' and info['PReLU'].learnable == 'yes'
    # torch's state dicts load both ways.
    torch_p = nn.PReLU(4, init=0.3)
    p.load_state_dict(torch_p.state_dict())
    assert torch.equal(p.weight, torch_p.weight)
    torch_p.load_state_dict(p.state_dict())


def test_registry_takes_over_only_the_class_it_names():
    from mmact.registry import register_activation
    with pytest.raises(KeyError, match='already registered by .*ReLU'):
        register_activation('ReLU', family='classic',
                            replaces=nn.PReLU)(type('X', (nn.PReLU, ), {}))
    with pytest.raises(TypeError, match='must subclass PReLU'):
        register_activation('PReLU', family='classic',
                            replaces=nn.PReLU)(type('X', (nn.Module, ), {}))
    assert MODELS.get('PReLU') is PReLU


def _prelu_grads(fn, x, w, g):
    x = x.detach().requires_grad_(True)
    w = w.detach().requires_grad_(True)
    y = fn(x, w)
    return (y, *torch.autograd.grad(y, (x, w), g))


def _prelu_cases():
    gen = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, generator=gen) * 2

    x4 = r(3, 8, 9, 70)
    return {
        'nchw': (x4, r(8)),
        'nchw_scalar': (x4, r(1)),
        'channels_last': (x4.contiguous(memory_format=torch.channels_last),
                          r(8)),
        'channels_last_scalar': (x4.contiguous(
            memory_format=torch.channels_last), r(1)),
        'strided': (x4.transpose(2, 3), r(8)),
        'tokens_dim1': (r(2, 50, 16), r(50)),  # torch's channel is dim 1
        'two_dims': (r(40, 16), r(16)),
        'five_dims': (r(2, 4, 3, 5, 6), r(4)),
        'large': (r(2, 4, 200, 300), r(4)),
    }


@kernels
@pytest.mark.parametrize('name', sorted(_prelu_cases()))
def test_prelu_matches_torch_and_float64(name):
    x, w = _prelu_cases()[name]
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    y, gx, gw = _prelu_grads(prelu, x, w, g)
    ty, tgx, tgw = _prelu_grads(F.prelu, x, w, g)
    assert torch.equal(y, ty) and torch.equal(gx, tgx)
    assert y.stride() == ty.stride()
    _, _, gw64 = _prelu_grads(F.prelu, x.double(), w.double(), g.double())
    torch.testing.assert_close(gw.double(), gw64, rtol=1e-5, atol=1e-4)
    with cpu_kernels(False):
        assert torch.equal(_prelu_grads(prelu, x, w, g)[1], tgx)


@kernels
def test_prelu_fused_backward_is_used_and_differentiable_again():
    x = torch.randn(4, 8, 5, 5, dtype=torch.float64)
    w = torch.rand(8, dtype=torch.float64)
    # float64 stays on torch's op: gradgradcheck through the module path.
    assert torch.autograd.gradgradcheck(prelu, (x.requires_grad_(),
                                                w.requires_grad_()))
    xf = x.float().detach().requires_grad_(True)
    wf = w.float().detach().requires_grad_(True)
    y = prelu(xf, wf)
    assert y.grad_fn.name() == 'PReLUFunctionBackward'
    g = torch.randn_like(y, requires_grad=True)
    gx, gw = torch.autograd.grad(y, (xf, wf), g, create_graph=True)
    # d(gx . v)/dw = sum over x <= 0 of g v (per channel); d/dg = slope v.
    v = torch.randn_like(gx)
    dw, dg = torch.autograd.grad((gx * v).sum(), (wf, g))
    neg = (xf <= 0).float()
    torch.testing.assert_close(dw, (g * v * neg).sum((0, 2, 3)))
    torch.testing.assert_close(
        dg, v * torch.where(xf > 0, 1.0, wf.view(8, 1, 1)))


def test_prelu_falls_back_to_torch_with_its_errors():
    x = torch.randn(6)
    w = torch.rand(1)
    assert torch.equal(prelu(x, w), F.prelu(x, w))  # 1-D: torch's op
    with pytest.raises(RuntimeError, match='parameter'):
        prelu(torch.randn(2, 3, 4), torch.rand(5))
    # torch's module refuses a float32 weight for other dtypes; mmact's
    # casts it (x's dtype kept, as for every mmact activation).
    x64 = torch.randn(2, 3, 4, dtype=torch.float64)
    with pytest.raises(RuntimeError, match='Type promoting'):
        nn.PReLU(3)(x64)
    module = PReLU(3, init=0.2)
    y = module(x64.requires_grad_())
    assert y.dtype == torch.float64
    assert torch.equal(y, F.prelu(x64, torch.full((3, ), 0.2).double()))
    y.sum().backward()
    assert module.weight.grad.dtype == torch.float32


@kernels
def test_prelu_op_passes_opcheck():
    x, g = torch.randn(2, 3, 20), torch.randn(2, 3, 20)
    torch.library.opcheck(torch.ops.mmact.prelu_forward,
                          (x, torch.rand(3, 1)))
    for inner, w in ((False, torch.rand(2, 3)), (True, torch.rand(2, 20))):
        torch.library.opcheck(torch.ops.mmact.prelu_backward,
                              (x, g, w, inner))
    with pytest.raises(RuntimeError, match='weight must be a float32 CPU'):
        torch.ops.mmact.prelu_forward(x, torch.rand(3, 1).double())


# Philox4x32-10, written from the paper's definition in numpy, checked on
# Random123's published known answers; the kernel is checked against it.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, ) * 4, (0xFFFFFFFF, ) * 2,
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
     (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def philox(counters: np.ndarray, key) -> np.ndarray:
    """Philox4x32-10 of (n, 4) uint32 counters: (n, 4) uint32 words."""
    c = counters.astype(np.uint64)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c[:, 0]
        p1 = np.uint64(0xCD9E8D57) * c[:, 2]
        c = np.stack([(p1 >> np.uint64(32)) ^ c[:, 1] ^ k0, p1 & mask,
                      (p0 >> np.uint64(32)) ^ c[:, 3] ^ k1, p0 & mask], 1)
        k0 = (k0 + np.uint64(0x9E3779B9)) & mask
        k1 = (k1 + np.uint64(0xBB67AE85)) & mask
    return c.astype(np.uint32)


@pytest.mark.parametrize('counter,key,expected', PHILOX_KAT)
def test_philox_oracle_known_answers(counter, key, expected):
    out = philox(np.array([counter], dtype=np.uint32), key)
    assert tuple(int(w) for w in out[0]) == expected


def oracle_slopes(numel: int, seed: int, lower: float, upper: float):
    """The slopes csrc/rrelu.cpp documents: block b of 256 elements,
    element j + 64 l takes word l of counter (64 b + j, 0)."""
    blocks = -(-numel // 256)
    n = np.arange(blocks * 64, dtype=np.uint64)
    counters = np.stack([n & np.uint64(0xFFFFFFFF), n >> np.uint64(32),
                         0 * n, 0 * n], 1).astype(np.uint32)
    s = seed % 2**64
    words = philox(counters, (s & 0xFFFFFFFF, s >> 32))
    words = words.reshape(blocks, 64, 4).transpose(0, 2, 1).reshape(-1)
    u = (words >> 8).astype(np.float32) * np.float32(2**-24)
    lo = np.float32(lower)
    return (lo + (np.float32(upper) - lo) * u)[:numel]


@kernels
@pytest.mark.parametrize('numel,seed', [(1000, 0), (70001, -5),
                                        (300, 2**62 + 12345)])
def test_rrelu_slopes_are_the_documented_philox_stream(numel, seed):
    ones = torch.ones(numel)
    r = torch.ops.mmact.rrelu_backward(-ones, ones, 0.125, 1 / 3,
                                       torch.tensor(seed))
    expected = oracle_slopes(numel, seed, 0.125, 1 / 3)
    assert np.array_equal(r.numpy(), expected)
    assert 0.125 <= r.min() and r.max() < 1 / 3


@kernels
def test_rrelu_forward_backward_and_statistics():
    torch.manual_seed(0)
    x = torch.randn(8, 16, 64, 64, requires_grad=True)
    g = torch.randn_like(x)
    y = rrelu(x, 0.1, 0.3, True)
    assert y.grad_fn.name() == 'RReLUFunctionBackward'
    (gx, ) = torch.autograd.grad(y, x, g)
    neg = x < 0
    slope = (y / x).detach()[neg]
    assert torch.equal(y[~neg], x[~neg])
    assert 0.1 <= slope.min() and slope.max() < 0.3
    # U(0.1, 0.3): mean 0.2, sd 0.0577 over ~262k draws (4-sigma bounds).
    assert abs(slope.mean() - 0.2) < 4 * 0.0577 / slope.numel()**0.5
    assert abs(slope.std() - 0.2 / 12**0.5) < 1e-3
    hist = torch.histc(slope, 10, 0.1, 0.3) / slope.numel()
    assert (hist - 0.1).abs().max() < 0.005
    assert torch.equal(gx[~neg], g[~neg])
    torch.testing.assert_close(gx[neg], g[neg] * slope)


@kernels
def test_rrelu_reproducible_and_thread_independent():
    x = torch.randn(3, 5, 70, 70)
    torch.manual_seed(7)
    a = rrelu(x, 0.125, 1 / 3, True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(7)
        b = rrelu(x, 0.125, 1 / 3, True)
    finally:
        torch.set_num_threads(threads)
    c = rrelu(x, 0.125, 1 / 3, True)
    assert torch.equal(a, b) and not torch.equal(a, c)


@kernels
def test_rrelu_inplace_channels_last_and_memory():
    torch.manual_seed(0)
    w = torch.randn(2, 6, 9, 11, requires_grad=True)
    x = (w * 1).contiguous(memory_format=torch.channels_last)
    module = RReLU(inplace=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t) or t, lambda t: t):
        y = module(x)
    assert y is x and y.is_contiguous(memory_format=torch.channels_last)
    assert sum(t.numel() for t in saved) == x.numel() + 1  # y and the seed
    g = torch.randn(2, 6, 9, 11)  # contiguous, unlike y
    (gw, ) = torch.autograd.grad(y, w, g)
    neg = w < 0
    torch.testing.assert_close(gw[neg], g[neg] * (y / w).detach()[neg])
    assert torch.equal(gw[~neg], g[~neg])


@kernels
def test_rrelu_double_backward_and_fallbacks():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 10, requires_grad=True)
    y = rrelu(x, 0.2, 0.4, True)
    g = torch.randn_like(y, requires_grad=True)
    (gx, ) = torch.autograd.grad(y, x, g, create_graph=True)
    v = torch.randn_like(gx)
    (dg, ) = torch.autograd.grad((gx * v).sum(), g)
    slope = torch.where(x > 0, 1.0, y / x).detach()
    torch.testing.assert_close(dg, v * slope)
    # Evaluation: torch's fixed slope (lower + upper) / 2.
    xe = torch.randn(5, 4)
    assert torch.equal(rrelu(xe, 0.2, 0.4, False),
                       F.leaky_relu(xe, 0.3))
    with pytest.raises(RuntimeError, match='[Ll]ower bound'):
        rrelu(xe, 0.4, 0.2, True)  # torch's own check
    assert rrelu(xe.double(), 0.2, 0.4, True).dtype == torch.float64


@kernels
def test_rrelu_ops_pass_opcheck_and_check_arguments():
    y, g = torch.randn(3, 40), torch.randn(3, 40)
    seed = torch.tensor(3)
    torch.library.opcheck(torch.ops.mmact.rrelu_backward,
                          (y, g, 0.1, 0.3, seed))
    torch.library.opcheck(torch.ops.mmact.rrelu_forward,
                          (y, torch.empty_like(y), 0.1, 0.3, seed))
    with pytest.raises(RuntimeError, match='0 <= lower <= upper'):
        torch.ops.mmact.rrelu_backward(y, g, 0.3, 0.1, seed)
    with pytest.raises(RuntimeError, match='non-overlapping and dense'):
        torch.ops.mmact.rrelu_backward(y[:, ::2], g[:, ::2], 0.1, 0.3, seed)
    with pytest.raises(RuntimeError, match='seed must be one int64'):
        torch.ops.mmact.rrelu_backward(y, g, 0.1, 0.3, torch.tensor(3.0))
    y4 = torch.randn(2, 3, 4, 5)
    with pytest.raises(RuntimeError, match="grad must have y's shape and "
                       'strides'):
        torch.ops.mmact.rrelu_backward(
            y4, y4.contiguous(memory_format=torch.channels_last), 0.1, 0.3,
            seed)


@kernels
@pytest.mark.slow
def test_prelu_and_rrelu_under_torch_compile():
    """PReLU: the compiled graph (fake kernels) gives eager's numbers.
    RReLU: the seed draw is traced, so compiled calls still differ, and
    torch.manual_seed reproduces them."""
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 5, requires_grad=True)
    act = PReLU(8, init=0.1)
    results = []
    for fn in (act, torch.compile(act, fullgraph=True)):
        x.grad = act.weight.grad = None
        y = fn(x)
        y.square().sum().backward()
        results.append((y, x.grad, act.weight.grad))
    for eager, compiled in zip(*results):
        torch.testing.assert_close(compiled, eager)
    compiled = torch.compile(RReLU(0.1, 0.3), fullgraph=True)
    xd = x.detach()
    a, b = compiled(xd), compiled(xd)
    torch.manual_seed(5)
    c = compiled(xd)
    torch.manual_seed(5)
    assert not torch.equal(a, b) and torch.equal(c, compiled(xd))
    slope = (a / xd)[xd < 0]
    assert 0.1 <= slope.min() and slope.max() < 0.3
