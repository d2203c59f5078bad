"""Whole OpenMMLab models to ONNX (``tools/deploy.py``, the ONNX
benchmark)."""
from typing import Tuple

import torch
import torch.nn as nn
from torch.utils._pytree import tree_flatten

from ..modules import prepare_export


class TensorForward(nn.Module):
    """``model(inputs, mode='tensor')`` with its outputs as a flat tuple."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outputs, _ = tree_flatten(self.model(inputs, mode='tensor'))
        return tuple(outputs)


def export_onnx(model: nn.Module, example: torch.Tensor, path: str,
                exporter: str = 'export', dynamic: bool = True) -> None:
    """Export ``model(example)`` to ONNX at ``path`` with DiTAC tables built
    from the current θ.

    Args:
        model: Takes one image batch (N, C, H, W).
        example: An input.
        path: The .onnx file.
        exporter: ``'export'`` (torch.export based, torch's default) or
            ``'script'`` (the TorchScript tracer).
        dynamic: Batch, height and width dynamic; else ``example``'s shape.
            Refused for models with adaptive pooling to more than one cell.
    """
    if dynamic:
        _check_dynamic(model)
    prepare_export(model)
    kwargs = dict(input_names=['inputs'])
    if exporter == 'export':
        if dynamic:
            kwargs['dynamic_shapes'] = ({0: torch.export.Dim('batch'),
                                         2: torch.export.Dim('height'),
                                         3: torch.export.Dim('width')}, )
        torch.onnx.export(model, (example, ), path, dynamo=True, **kwargs)
    else:
        if dynamic:
            kwargs['dynamic_axes'] = {'inputs': {0: 'batch', 2: 'height',
                                                 3: 'width'}}
        torch.onnx.export(model, (example, ), path, dynamo=False, **kwargs)


def _check_dynamic(model: nn.Module) -> None:
    """Refuse dynamic image sizes where the exporter fixes the traced one:
    torch.onnx writes the windows of adaptive pooling (pyramid pooling of
    PSPNet and UperNet) for the example's feature size (PSPNet R-50 exported
    at 64x128 reads out of range at 96x160)."""
    pools = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    fixed = [f'{name} (output {module.output_size})'
             for name, module in model.named_modules()
             if isinstance(module, pools)
             and module.output_size not in (1, (1, 1))]
    if fixed:
        raise ValueError(
            'dynamic image size: adaptive pooling exports for the example\'s '
            'size only (' + ', '.join(fixed[:3]) + (', ...' if len(fixed) > 3
                                                    else '') +
            '); export with static shapes (tools/deploy.py --static)')
