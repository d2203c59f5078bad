"""What the ops share: the optional Triton import, the device dispatch and
the compute dtype."""
import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the PyTorch paths serve
    triton = tl = None


def compute_dtype(x: Tensor) -> torch.dtype:
    """float64 stays float64; everything else is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def use_triton(x: Tensor) -> bool:
    """Whether ``x`` goes to the Triton kernels (CUDA, not float64)."""
    return triton is not None and x.is_cuda and x.dtype != torch.float64
