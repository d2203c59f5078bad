"""Per-channel activations inside mmengine's Runner and DDP."""
import torch
import torch.distributed as dist
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from toy import ToyClassifier, toy_data

import mmact  # noqa: F401  (what custom_imports does in a config)


def test_runner_trains_inferred_per_channel_parameters(tmp_path):
    model = ToyClassifier(dict(type='PDELU'))
    act_params = {n: p.detach().clone() for n, p in model.named_parameters()
                  if n.endswith('alpha')}
    assert {n: tuple(p.shape) for n, p in act_params.items()} == {
        'conv.activate.alpha': (8, ), 'ffn.layers.0.1.alpha': (16, )}
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(toy_data(), batch_size=4),
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
        batch = toy_data(4)
        x = torch.stack([d['inputs'] for d in batch])
        model(x).sum().backward()
        grads = [p.grad for n, p in model.named_parameters()
                 if n.endswith('beta')]
        assert len(grads) == 2 and all(g is not None for g in grads)
    finally:
        dist.destroy_process_group()
