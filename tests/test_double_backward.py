"""Second derivatives of the trainable activations: gradgradcheck in
float64 (input and every parameter; NCHW, channels-last, tokens), and a
gradient penalty through the fast float32 path equal to plain autograd."""
import pytest
import torch

from mmact import build_activation

CASES = {
    'PDELU': dict(type='PDELU', num_channels=4),
    'PDELU-t1.5': dict(type='PDELU', num_channels=4, t=1.5),
    'SwishBeta': dict(type='SwishBeta', learnable=True, per_channel=True,
                      num_channels=4),
    'ACON-A': dict(type='ACON-A', num_channels=4),
    'ACON-B': dict(type='ACON-B', num_channels=4),
    'ACON-C': dict(type='ACON-C', num_channels=4),
    'Meta-ACON': dict(type='Meta-ACON', num_channels=4, norm='GN'),
    'LA-SiLU': dict(type='LA-SiLU'),
    'LA-HardSiLU': dict(type='LA-HardSiLU'),
}
LAYOUTS = ('nchw', 'channels_last', 'tokens')


def _input(layout, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    if layout == 'tokens':
        return torch.randn(2, 5, 4, generator=g, dtype=dtype) * 2
    x = torch.randn(2, 4, 3, 3, generator=g, dtype=dtype) * 2
    return x.to(memory_format=torch.channels_last) \
        if layout == 'channels_last' else x


def _module(name, layout, dtype=torch.float64):
    cfg = dict(CASES[name])
    if layout == 'tokens':
        if name.startswith('LA-'):
            cfg['per_token'] = True
        elif name == 'Meta-ACON':
            pytest.skip('Meta-ACON takes maps')
        else:
            cfg['channel_dim'] = -1
    torch.manual_seed(0)
    return build_activation(cfg).to(dtype)


@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('name', sorted(CASES))
def test_gradgradcheck_in_input_and_parameters(name, layout):
    module = _module(name, layout)
    names, params = zip(*module.named_parameters()) if any(
        True for _ in module.parameters()) else ((), ())

    def f(x, *ps):
        return torch.func.functional_call(module, dict(zip(names, ps)),
                                          (x, ))

    inputs = (_input(layout).requires_grad_(True), ) + tuple(
        p.detach().clone().requires_grad_(True) for p in params)
    assert torch.autograd.gradgradcheck(f, inputs)


@pytest.mark.parametrize('name', sorted(CASES))
def test_gradient_penalty_matches_plain_autograd(name):
    """The penalty ||∂y/∂x||² and its gradient in x and the parameters,
    through the op's float32 path (compiled kernels on CPU) vs the same
    module in float64, where the ops run their PyTorch reference paths."""
    fast = _module(name, 'nchw', torch.float32)
    ref = _module(name, 'nchw', torch.float64)
    x = _input('nchw', torch.float32)
    results = []
    for module, xx in ((fast, x), (ref, x.double())):
        xx = xx.clone().requires_grad_(True)
        (gx, ) = torch.autograd.grad(module(xx).sum(), xx, create_graph=True)
        penalty = gx.square().sum()
        params = list(module.parameters())
        results.append((penalty, torch.autograd.grad(penalty, [xx, *params],
                                                     allow_unused=True)))
    (p32, g32), (p64, g64) = results
    torch.testing.assert_close(p32.double(), p64, rtol=1e-4, atol=1e-5)
    for a, b in zip(g32, g64):
        if b is None:
            assert a is None or not a.abs().sum()
            continue
        torch.testing.assert_close(a.double(), b, rtol=1e-3, atol=1e-4)
