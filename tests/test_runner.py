"""Per-channel activations inside mmengine's Runner and DDP."""
import pytest
import torch
import torch.distributed as dist
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from toy import ToyClassifier, toy_data

import mmact  # noqa: F401  (what custom_imports does in a config)


@pytest.mark.parametrize('act_cfg,shapes', [
    (dict(type='PDELU'), {'alpha': (8, 16)}),
    (dict(type='ACON-C'), {'p1': (8, 16), 'p2': (8, 16), 'beta': (8, 16)}),
    (dict(type='Meta-ACON', norm='GN'), {'p1': (8, 16), 'p2': (8, 16)}),
])
def test_runner_trains_inferred_per_channel_parameters(tmp_path, act_cfg,
                                                       shapes):
    model = ToyClassifier(act_cfg)
    acts = {'conv.activate': model.conv.activate,
            'ffn.layers.0.1': model.ffn.layers[0][1]}
    for name, sizes in shapes.items():
        assert [tuple(getattr(a, name).shape) for a in acts.values()] == [
            (sizes[0], ), (sizes[1], )]
    before = {f'{prefix}.{n}': p.detach().clone()
              for prefix, act in acts.items()
              for n, p in act.named_parameters()}
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(toy_data(), batch_size=4),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5,
                                          weight_decay=1e-4),
                           paramwise_cfg=dict(norm_decay_mult=0.0)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        default_hooks=dict(checkpoint=dict(
            type='CheckpointHook', interval=2, by_epoch=False)),
        default_scope='mmengine')
    runner.train()
    ckpt = torch.load(tmp_path / 'iter_2.pth', weights_only=True)
    params = dict(model.named_parameters())
    for name, value in before.items():
        assert not torch.equal(params[name].detach(), value), name
        assert torch.equal(ckpt['state_dict'][name], params[name].detach())


def _ddp_backward_grads():
    model = DistributedDataParallel(
        ToyClassifier(dict(type='SwishBeta', per_channel=True)))
    x = torch.stack([d['inputs'] for d in toy_data(4)])
    model(x).sum().backward()
    return [p.grad for n, p in model.named_parameters() if n.endswith('beta')]


def test_ddp_accepts_inferred_parameters(tmp_path):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg',
                            rank=0, world_size=1)
    try:
        # The DDP model (its Reducer holds the process group) is gone when
        # the helper returns: destroying a gloo group under a live Reducer
        # can hang in the group's destructor.
        grads = _ddp_backward_grads()
    finally:
        dist.destroy_process_group()
    assert len(grads) == 2 and all(g is not None for g in grads)
