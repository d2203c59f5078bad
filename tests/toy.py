"""A tiny mmengine model and data shared by the Runner tests."""
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModel
from torch import nn


class ToyClassifier(BaseModel):
    """ConvModule (NCHW) -> FFN (B, L, C) -> linear head, one act_cfg."""

    def __init__(self, act_cfg):
        super().__init__()
        self.conv = ConvModule(3, 8, 3, padding=1, act_cfg=act_cfg,
                               norm_cfg=dict(type='BN'))
        self.ffn = FFN(embed_dims=8, feedforward_channels=16,
                       act_cfg=act_cfg)
        self.head = nn.Linear(8, 2)

    def forward(self, inputs, labels=None, mode='tensor'):
        feat = self.conv(inputs).flatten(2).transpose(1, 2)
        logits = self.head(self.ffn(feat).mean(1))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        return logits


def toy_data(n=8):
    g = torch.Generator().manual_seed(0)
    return [dict(inputs=torch.randn(3, 6, 6, generator=g), labels=i % 2)
            for i in range(n)]


def gradcheck_module(module, x):
    """gradcheck of ``module`` in its input and every parameter."""
    names, params = zip(*module.named_parameters())

    def f(x, *ps):
        return torch.func.functional_call(module, dict(zip(names, ps)), (x, ))

    inputs = (x.requires_grad_(True), ) + tuple(
        p.detach().clone().requires_grad_(True) for p in params)
    return torch.autograd.gradcheck(f, inputs)


DITAC_WINDOWS = {'ditac': (-0.5, 2.0), 'ge': (0.0, 2.0),
                 'leaky': (-0.5, 2.0), 'inf': (-0.5, 2.0)}


def ditac_case(variant, scale=0.15, seed=0):
    """(float64 table, spec) of a seeded random θ (10 cells, a 256-point
    grid)."""
    from mmact.functional import ditac as F_ditac
    from mmact.ops.ditac import DiTACSpec, build_table
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(9 if F_ditac.zero_boundary(variant) else 11,
                        generator=g, dtype=torch.float64) * scale
    spec = DiTACSpec(*DITAC_WINDOWS[variant], variant, 0.01)
    return build_table(theta, 10, 256, spec, dtype=torch.float64), spec


def knot_inputs(table, spec):
    """float32 inputs within three float32 steps of every 64th of the split
    grid bins of ``table``: each sub-bin end (where the slope jumps) and
    part end of a lookup."""
    k = torch.nonzero(table.level > 0).flatten().double()
    u = (k[:, None] + torch.arange(65) / 64).flatten()
    x = (spec.a + u * (spec.b - spec.a) / table.level.numel()).float()
    steps = [x]
    for _ in range(3):
        steps = [torch.nextafter(steps[0], x - 1), *steps,
                 torch.nextafter(steps[-1], x + 1)]
    return torch.cat(steps)


def float_table(table):
    """The table with dT/dθ in float32 (as modules keep it)."""
    return table._replace(J=table.J.float())


def lerp(table, spec, device='cpu'):
    """The float32 interpolation tables of ``table`` on ``device``."""
    from mmact.ops.ditac import lerp_table
    return lerp_table(table.T.to(device), table.level.to(device), spec,
                      torch.float32)
