"""A hook for the DDP test: every rank saves its parameters after training
(mmengine's CheckpointHook saves rank 0's only). Buffers are left out: BN
running statistics are per rank (mmengine's DDP does not broadcast them)."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class SaveRankStateHook(Hook):

    def after_train(self, runner) -> None:
        model = getattr(runner.model, 'module', runner.model)
        torch.save({k: v.detach().cpu() for k, v in model.named_parameters()},
                   osp.join(runner.work_dir, f'rank{get_rank()}.pth'))
