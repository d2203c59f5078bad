"""LayerAct: reference values, exact memory-lean backward, layouts."""
import pytest
import torch

import mmact
from mmact.functional import layeract as F_la
from mmact.modules import LAHardSiLU, LASiLU

X = torch.tensor([[[[-3, -2], [-1, 0]], [[1, 2], [3, 4]]],
                  [[[1.5, 2], [2.5, 3]], [[-0.5, 0], [0.5, 1]]]],
                 dtype=torch.float64)


@pytest.mark.parametrize('module,sample,expected', [
    (LASiLU(), 0, [-0.579825, -0.529813, -0.351518, 0, 0.550855, 1.296963,
                   2.205280, 3.226899]),
    (LASiLU(), 1, [0.826282, 1.296963, 1.837732, 2.420173, -0.096638, 0,
                   0.175759, 0.449146]),
    (LASiLU(unbiased=False), 0, [-0.535069, -0.502827, -0.341942, 0,
                                 0.554339, 1.316116, 2.245760, 3.286575]),
    (LAHardSiLU(), 0, [-0.785566, -0.659793, -0.397938, 0, 0.534021,
                       1.204124, 2.010310, 2.952579]),
])
def test_reference_values(module, sample, expected):
    torch.testing.assert_close(module(X)[sample].flatten(),
                               torch.tensor(expected, dtype=torch.float64),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize('kind', F_la.SCALES)
@pytest.mark.parametrize('unbiased', [True, False])
@pytest.mark.parametrize('per_token', [False, True])
def test_memory_lean_backward_is_exact(kind, unbiased, per_token):
    from mmact.ops.layeract import layer_act
    torch.manual_seed(0)
    x = (torch.randn(3, 5, 4, dtype=torch.float64) * 2).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: layer_act(t, kind, 1e-3, unbiased, per_token), (x, ))
    g = torch.randn_like(x)
    (ours, ) = torch.autograd.grad(layer_act(x, kind, 1e-3, unbiased,
                                             per_token), x, g)
    (ref, ) = torch.autograd.grad(F_la.layer_act(x, kind, 1e-3, unbiased,
                                                 per_token), x, g)
    torch.testing.assert_close(ours, ref)


def test_saves_only_input_and_statistics():
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    x = torch.randn(4, 16, 8, 8, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        LASiLU()(x)
    assert sorted(saved) == [4, 4, x.numel()]


def test_layouts_and_per_token_statistics():
    x = torch.randn(2, 7, 6)
    y = LASiLU(per_token=True)(x)
    for t in range(7):
        torch.testing.assert_close(y[:, t], LASiLU()(x[:, t]))
    nhwc = torch.randn(2, 5, 5, 8)
    torch.testing.assert_close(LASiLU()(nhwc),
                               LASiLU()(nhwc.permute(0, 3, 1, 2)).permute(
                                   0, 2, 3, 1))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision(dtype):
    x = torch.randn(2, 8, 4, 4)
    xl = x.to(dtype).requires_grad_(True)
    y = LASiLU()(xl)
    assert y.dtype == dtype
    torch.testing.assert_close(y, LASiLU()(xl.float()).to(dtype))
    y.sum().backward()
    assert xl.grad.dtype == dtype


def test_bad_alpha():
    for alpha in (0, -1e-5):
        with pytest.raises(ValueError, match='alpha'):
            mmact.build_activation(dict(type='LA-SiLU', alpha=alpha))
