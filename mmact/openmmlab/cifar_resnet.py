"""The CIFAR ResNets of He et al. (ResNet-20/32/44/56/110), which the
LayerAct paper trains on CIFAR-10 / CIFAR-100; mmpretrain has only the
ImageNet-width ResNets (its ``ResNet_CIFAR`` is ResNet-18 and up with a 3x3
stem)."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from mmengine.registry import MODELS


class CIFARBasicBlock(BaseModule):
    """conv3x3-BN-act, conv3x3-BN, plus the shortcut, then act.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the first convolution (2 where a stage starts).
        shortcut: ``'A'``: a parameter-free identity, subsampled and padded
            with zero channels where the shape changes (the paper's CIFAR
            choice); ``'B'``: a 1x1 convolution + BN there.
        norm_cfg: Normalisation layers.
        act_cfg: The activation (every one is a separate module).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 shortcut: str, norm_cfg: dict, act_cfg: dict) -> None:
        super().__init__()
        self.conv1 = ConvModule(in_channels, out_channels, 3, stride, 1,
                                bias=False, norm_cfg=norm_cfg,
                                act_cfg=act_cfg)
        # conv2 and its norm are registered right before the activation
        # that follows the residual sum, so a per-channel activation takes
        # its channel count from the norm at build time.
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1,
                               bias=False)
        self.bn2 = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)
        self.pad = 0
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            if shortcut == 'A':
                self.pad = out_channels - in_channels
                self.stride = stride
            else:
                self.projection = ConvModule(in_channels, out_channels, 1,
                                             stride, bias=False,
                                             norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.projection is not None:
            identity = self.projection(x)
        elif self.pad:
            identity = F.pad(x[:, :, ::self.stride, ::self.stride],
                             (0, 0, 0, 0, self.pad // 2,
                              self.pad - self.pad // 2))
        else:
            identity = x
        return self.act(self.bn2(self.conv2(self.conv1(x))) + identity)


@MODELS.register_module()
class CIFARResNet(BaseModule):
    """ResNet-(6n+2) for 32x32 images: a 3x3 16-channel stem, three stages
    of n basic blocks at 16 / 32 / 64 channels (stride 2 where stages 2 and
    3 start). ResNet-20 has 0.27 M parameters with a 10-class head.

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        act_cfg: The activation after the stem and in every block.
        shortcut: ``'A'`` (zero-padded identity, the paper's) or ``'B'``
            (projection), see :class:`CIFARBasicBlock`.
        norm_cfg: Normalisation layers.
        in_channels: Image channels.
        out_indices: Stages (0..2) whose outputs are returned.
        init_cfg: Initialisation (Kaiming-normal convolutions, BN weight 1).
    """

    def __init__(self,
                 depth: int = 20,
                 act_cfg: dict = dict(type='ReLU'),
                 shortcut: str = 'A',
                 norm_cfg: dict = dict(type='BN'),
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (2, ),
                 init_cfg: Optional[list] = [
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(type='Constant', val=1, layer='_BatchNorm')]
                 ) -> None:
        super().__init__(init_cfg)
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f'CIFARResNet: depth must be 6n + 2 (20, 32, '
                             f'44, 56, 110, ...), got {depth!r}')
        if shortcut not in ('A', 'B'):
            raise ValueError(f"CIFARResNet: shortcut must be 'A' or 'B', "
                             f'got {shortcut!r}')
        if not out_indices or not set(out_indices) <= {0, 1, 2}:
            raise ValueError(f'CIFARResNet: out_indices must be stages in '
                             f'0..2, got {out_indices!r}')
        blocks = (depth - 2) // 6
        self.out_indices = tuple(out_indices)
        self.stem = ConvModule(in_channels, 16, 3, 1, 1, bias=False,
                               norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stages = nn.ModuleList()
        channels = 16
        for i, width in enumerate((16, 32, 64)):
            stage = []
            for j in range(blocks):
                stride = 2 if i > 0 and j == 0 else 1
                stage.append(CIFARBasicBlock(channels, width, stride,
                                             shortcut, norm_cfg, act_cfg))
                channels = width
            self.stages.append(nn.Sequential(*stage))

    def forward(self, x: torch.Tensor) -> tuple:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
