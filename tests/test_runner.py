"""Per-channel activations inside mmengine's Runner and DDP."""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

import mmact  # noqa: F401  (what custom_imports does in a config)


class ToyClassifier(BaseModel):

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


def _data(n=8):
    g = torch.Generator().manual_seed(0)
    return [dict(inputs=torch.randn(3, 6, 6, generator=g), labels=i % 2)
            for i in range(n)]


def test_runner_trains_inferred_per_channel_parameters(tmp_path):
    model = ToyClassifier(dict(type='PDELU'))
    act_params = {n: p.detach().clone() for n, p in model.named_parameters()
                  if n.endswith('alpha')}
    assert {n: tuple(p.shape) for n, p in act_params.items()} == {
        'conv.activate.alpha': (8, ), 'ffn.layers.0.1.alpha': (16, )}
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(_data(), batch_size=4),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5, weight_decay=1e-4),
                           paramwise_cfg=dict(norm_decay_mult=0.0)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope='mmengine')
    runner.train()
    ckpt = torch.load(tmp_path / 'iter_2.pth', weights_only=False)
    for name, before in act_params.items():
        after = dict(model.named_parameters())[name]
        assert not torch.equal(after.detach(), before), name
        assert torch.equal(ckpt['state_dict'][name], after.detach())


def test_ddp_accepts_inferred_parameters(tmp_path):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg',
                            rank=0, world_size=1)
    try:
        model = DistributedDataParallel(
            ToyClassifier(dict(type='SwishBeta', per_channel=True)))
        batch = _data(4)
        x = torch.stack([d['inputs'] for d in batch])
        model(x).sum().backward()
        grads = [p.grad for n, p in model.named_parameters()
                 if n.endswith('beta')]
        assert len(grads) == 2 and all(g is not None for g in grads)
    finally:
        dist.destroy_process_group()
