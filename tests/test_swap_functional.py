"""Functional activation calls swapped inside their owner's forward only."""
import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from spellings import Net, Spellings

import mmact  # noqa: F401
from mmact.openmmlab.swap import summarize, swap_activations

HERE = Path(__file__).parent
DITAC = dict(type='DiTAC', init='prior')


def _spellings(rules, act_cfg=DITAC):
    torch.manual_seed(0)
    model = Spellings()
    replaced = swap_activations(model, rules, act_cfg)
    return model, replaced


def test_every_spelling_is_caught_once_per_call_site():
    model, replaced = _spellings([dict(replace='F.relu', exclude='child')])
    # Nine ReLU call sites, each with its own DiTAC; the child excluded.
    sites = [r for r in replaced if r.new == 'DiTAC']
    assert len(sites) == 9
    assert {r.old for r in sites} == {
        'F.relu', 'torch.relu', 'Tensor.relu', 'Tensor.relu_',
        'F.relu_'}
    acts = [getattr(model, r.path) for r in sites]
    assert all(type(a).__name__ == 'DiTAC' for a in acts)
    x = torch.randn(2, 3, 5, 5)
    out = model(x)
    pre = model.conv(x)
    for k, act in enumerate(acts):
        torch.testing.assert_close(out[k], act(pre), msg=f'site {k}')
    # Prior draws differ per site: the outputs are not all one function.
    assert not torch.allclose(out[0], out[1])
    torch.testing.assert_close(out[9], F.leaky_relu(pre, 0.2))
    torch.testing.assert_close(out[10], F.relu(pre))  # the excluded child
    # Outside the owner nothing changed: F.relu is torch's own.
    assert F.relu is torch.nn.functional.relu
    assert torch.equal(F.relu(torch.tensor([-1.0, 2.0])),
                       torch.tensor([0.0, 2.0]))


def test_a_covered_child_is_its_own_owner_and_leaky_slope_is_reported():
    model, replaced = _spellings(
        [dict(replace=['F.relu', 'F.leaky_relu'])], dict(type='GELU'))
    paths = {r.path: r for r in replaced}
    # A replacement without parameters: one module per owner and function.
    assert set(paths) == {'swapped_relu', 'swapped_leaky_relu',
                          'child.swapped_relu'}
    assert paths['swapped_relu'].count == 9
    assert paths['swapped_relu'].inplace
    assert paths['swapped_leaky_relu'].unused == ('negative_slope=0.2', )
    summary = summarize(replaced)
    assert 'negative_slope=0.2' in summary and 'in-place calls' in summary
    x = torch.randn(1, 3, 4, 4)
    pre = model.conv(x)
    out = model(x)
    for k in range(11):
        torch.testing.assert_close(out[k], F.gelu(pre), msg=f'output {k}')


def test_in_place_calls_write_their_input_and_keep_exact_gradients():
    model, _ = _spellings([dict(replace='F.relu', exclude='child')])
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    model(x)[:9].sum().backward()
    # Reference: the same DiTACs applied out of place.
    ref_x = x.detach().clone().requires_grad_()
    pre = model.conv(ref_x)
    acts = [model.get_submodule(n) for n, _ in model.named_children()
            if n.startswith('swapped_relu')]
    thetas = [a.theta for a in acts]
    grads = torch.autograd.grad(sum(a(pre).sum() for a in acts),
                                [ref_x, *thetas])
    torch.testing.assert_close(x.grad, grads[0])
    for act, expected in zip(acts, grads[1:]):
        torch.testing.assert_close(act.theta.grad, expected)


def test_only_calls_the_probe_ran_are_swapped_and_listed():
    model, replaced = _spellings([dict(replace='F.relu', exclude='child')])
    assert len(replaced) == 9
    model.never = True  # a call site the probe never saw
    with pytest.raises(RuntimeError, match='was not run by the build-time'):
        model(torch.randn(1, 3, 4, 4))


class TwoInputs(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x, y):
        return F.relu(self.conv(x)) + y


def test_a_failing_probe_names_the_owner_and_the_error():
    model = nn.Sequential(nn.Conv2d(3, 3, 1))
    model.add_module('odd', TwoInputs())
    with pytest.raises(RuntimeError, match=r"cannot dry-run odd \(TwoInputs"
                       r"\).*missing 1 required positional argument: 'y'"):
        swap_activations(model, [dict(replace='F.relu')], DITAC)


def test_deepcopy_state_dict_and_compile_keep_the_swap():
    torch.manual_seed(0)
    model = Net()
    plain = copy.deepcopy(model)
    swap_activations(model, [dict(replace='F.relu')], DITAC)
    x = torch.randn(2, 3, 6, 6)
    expected = model(x)
    assert not torch.allclose(expected, plain(x))
    torch.testing.assert_close(copy.deepcopy(model)(x), expected)
    torch.manual_seed(1)
    other = Net()
    swap_activations(other, [dict(replace='F.relu')], DITAC)
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other(x), expected)
    compiled = torch.compile(model)
    torch.testing.assert_close(compiled(x), expected)


def test_pickled_whole_model_loads_in_a_fresh_process(tmp_path):
    torch.manual_seed(0)
    model = Net()
    swap_activations(model, [dict(replace='F.relu')], DITAC)
    x = torch.randn(2, 3, 6, 6)
    torch.save(dict(model=model, x=x, y=model(x)), tmp_path / 'whole.pth')
    code = (
        'import torch, mmact\n'
        f'd = torch.load({str(tmp_path / "whole.pth")!r}, weights_only=False)\n'
        "y = d['model'](d['x'])\n"
        "assert torch.equal(y, d['y']), (y - d['y']).abs().max()\n"
        "print('same outputs')\n")
    env = dict(os.environ, PYTHONPATH=f'{HERE}{os.pathsep}'
               f'{os.environ.get("PYTHONPATH", "")}')
    out = subprocess.run([sys.executable, '-c', code], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'same outputs' in out.stdout


def _ddp_grads(rank):
    torch.manual_seed(0)
    model = Net()
    swap_activations(model, [dict(replace='F.relu')], DITAC)
    ddp = nn.parallel.DistributedDataParallel(model)
    x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    ddp(x[2 * rank:2 * rank + 2]).square().mean().backward()
    return {n: p.grad for n, p in model.named_parameters()}


def _ddp_worker(rank, world, out):
    import datetime

    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{out}/rendezvous',
                            rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    # The DDP wrapper (its Reducer holds the group) is gone before the group
    # is destroyed: destroying a gloo group under a live Reducer can hang.
    grads = _ddp_grads(rank)
    dist.destroy_process_group()
    torch.save(grads, f'{out}/rank{rank}.pth')


def test_ddp_two_processes_average_the_swapped_gradients(tmp_path):
    workers = mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2,
                       join=False)
    deadline = time.monotonic() + 300
    while not workers.join(timeout=5):
        if time.monotonic() > deadline:
            for process in workers.processes:
                process.kill()
            pytest.fail('the two DDP workers did not finish in 300 s')
    r0, r1 = (torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1))
    torch.manual_seed(0)
    model = Net()
    swap_activations(model, [dict(replace='F.relu')], DITAC)
    x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    # DDP averages the two half-batch means: the full-batch mean's gradient.
    model(x).square().mean().backward()
    assert 'swapped_relu.theta' in r0
    for name, p in model.named_parameters():
        torch.testing.assert_close(r0[name], r1[name])
        torch.testing.assert_close(r0[name], p.grad, msg=name)


class ResNetThenReLU(nn.Module):
    """An mmdet ResNet (activation checkpointing switchable) followed by
    the owner's own F.relu."""

    def __init__(self, with_cp):
        super().__init__()
        from mmdet.models.backbones import ResNet
        self.backbone = ResNet(depth=18, out_indices=(3, ), with_cp=with_cp)

    def forward(self, x):
        return F.relu(self.backbone(x)[0])


def test_with_cp_keeps_module_and_functional_swaps_exact():
    torch.manual_seed(0)
    checkpointed = ResNetThenReLU(with_cp=True)
    plain = ResNetThenReLU(with_cp=False)
    plain.load_state_dict(checkpointed.state_dict())
    rules = [dict(replace=['ReLU', 'F.relu'])]
    for model in (checkpointed, plain):
        torch.manual_seed(1)
        swap_activations(model, rules, DITAC)
        model.train()
    plain.load_state_dict(checkpointed.state_dict())
    assert type(checkpointed.swapped_relu).__name__ == 'DiTAC'
    x = torch.randn(2, 3, 32, 32)
    for model in (checkpointed, plain):
        model(x).sum().backward()
    for (name, a), b in zip(checkpointed.named_parameters(),
                            plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, msg=name)
    assert checkpointed.swapped_relu.theta.grad.abs().sum() > 0
