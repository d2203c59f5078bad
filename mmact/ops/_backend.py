"""What the ops share: the optional Triton import, the optional compiled CPU
kernels (``mmact._C``, registered as ``torch.ops.mmact.*``), the device
dispatch and the compute dtype."""
import contextlib
import os
import warnings
from typing import Callable, Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the PyTorch paths serve
    triton = tl = None


# What mmact._C registers (csrc/*.cpp); a build older than the sources
# lacks some.
CPU_OPS = ('ditac_forward', 'ditac_backward', 'ditac_table',
           'cpab_integrate', 'layeract_statistics', 'layeract_forward',
           'layeract_backward', 'acon_forward', 'acon_backward',
           'pdelu_forward', 'pdelu_backward', 'mish_forward', 'mish_backward',
           'prelu_forward', 'prelu_backward', 'rrelu_forward',
           'rrelu_backward', 'cpu_isa')


def _load_cpu_kernels() -> bool:
    # Built with AVX2 code (setup.py); machines without it (or installs
    # that skipped the build) keep the vectorised PyTorch paths.
    if torch.backends.cpu.get_cpu_capability() not in ('AVX2', 'AVX512'):
        return False
    try:
        from .. import _C  # noqa: F401  (registers torch.ops.mmact.*)
    except ImportError:
        return False
    stale = [op for op in CPU_OPS if not hasattr(torch.ops.mmact, op)]
    if stale:
        warnings.warn(
            f'mmact._C is older than the sources (no {", ".join(stale)}): '
            'the PyTorch paths serve; rebuild with tools/setup_env.sh or '
            'pip install --no-build-isolation -e .', stacklevel=2)
        return False
    return True


CPU_KERNELS_BUILT = _load_cpu_kernels()
_cpu_kernels_on = CPU_KERNELS_BUILT and os.environ.get(
    'MMACT_CPU_KERNELS', '1') != '0'

if CPU_KERNELS_BUILT:
    # Shapes for tracing (torch.compile, meta tensors).
    @torch.library.register_fake('mmact::ditac_forward')
    def _(x, pairs, desc, a, scale, sc_hi, c_hi, lo, hi, offset, variant,
          slope):
        return torch.empty_like(x)

    @torch.library.register_fake('mmact::ditac_backward')
    def _(x, grad, pairs, desc, a, scale, sc_hi, c_hi, lo, hi, offset,
          variant, slope):
        return torch.empty_like(x), x.new_empty((pairs.shape[0], 2),
                                                dtype=torch.float64)

    @torch.library.register_fake('mmact::cpab_integrate')
    def _(u, A, B, t, with_grad):
        return (torch.empty_like(u), torch.empty_like(u),
                u.new_empty((u.numel() if with_grad else 0, B.shape[1])))

    @torch.library.register_fake('mmact::ditac_table')
    def _(A, B, size, capacity, width, tolerance, max_level, passes,
          with_grad):
        T = A.new_empty(capacity + 1)
        return (T, A.new_empty((capacity + 1 if with_grad else 0,
                                B.shape[1])),
                A.new_empty(size - 1, dtype=torch.int32))

    @torch.library.register_fake('mmact::acon_forward')
    def _(x, p1, p2, beta, channels_inner):
        return torch.empty_like(x)

    @torch.library.register_fake('mmact::acon_backward')
    def _(x, grad, p1, p2, beta, channels_inner):
        return torch.empty_like(x), x.new_empty(
            (x.shape[0], p1.shape[1], 3), dtype=torch.float64)

    @torch.library.register_fake('mmact::pdelu_forward')
    def _(x, alpha, t, elu):
        return torch.empty(torch.broadcast_shapes(x.shape, alpha.shape),
                           dtype=x.dtype, device=x.device)

    @torch.library.register_fake('mmact::pdelu_backward')
    def _(x, grad, alpha, t, elu, channels_inner):
        return torch.empty_like(x), x.new_empty(
            (x.shape[0], alpha.shape[1], 1), dtype=torch.float64)

    @torch.library.register_fake('mmact::mish_forward')
    def _(x):
        return torch.empty_like(x)

    @torch.library.register_fake('mmact::mish_backward')
    def _(x, grad):
        return torch.empty_like(x)

    @torch.library.register_fake('mmact::prelu_forward')
    def _(x, weight):
        return torch.empty(torch.broadcast_shapes(x.shape, weight.shape),
                           dtype=x.dtype, device=x.device)

    @torch.library.register_fake('mmact::prelu_backward')
    def _(x, grad, weight, channels_inner):
        return torch.empty_like(x), x.new_empty(
            (x.shape[0], weight.shape[1], 1), dtype=torch.float64)

    @torch.library.register_fake('mmact::rrelu_forward')
    def _(x, out, lower, upper, seed):
        return None

    @torch.library.register_fake('mmact::rrelu_backward')
    def _(y, grad, lower, upper, seed):
        return torch.empty_like(y)

    @torch.library.register_fake('mmact::layeract_statistics')
    def _(rows, alpha, unbiased):
        stat = rows.new_empty(rows.shape[0])
        return stat, torch.empty_like(stat)

    @torch.library.register_fake('mmact::layeract_forward')
    def _(rows, mean, rstd, kind):
        return torch.empty_like(rows)

    @torch.library.register_fake('mmact::layeract_backward')
    def _(rows, grad, mean, rstd, kind, c):
        return torch.empty_like(rows)


def differentiable_backward(fn: Callable[..., Tensor],
                            inputs: Sequence[Tensor], grad: Tensor,
                            needs: Sequence[bool]) -> Tuple[Optional[Tensor],
                                                            ...]:
    """The gradients of ``fn(*inputs)`` (a plain-autograd reference of a
    custom op) for the inputs in ``needs``, as a graph of their own.

    A custom op's backward calls this when autograd records the backward
    (``create_graph=True``: gradient penalties, input-gradient losses):
    the result is then exact to any order. The usual backward keeps the
    op's lean, fused path.
    """
    wanted = [t for t, need in zip(inputs, needs) if need]
    with torch.enable_grad():
        out = fn(*inputs)
        found = iter(torch.autograd.grad(out, wanted, grad, create_graph=True,
                                         allow_unused=True))
    return tuple(next(found) if need else None for need in needs)


def exporting() -> bool:
    """Whether a graph is being captured for export: ``torch.export`` (which
    ``torch.onnx.export`` builds on) or the TorchScript tracer. The ops then
    run their plain PyTorch formulas, which exporters map to standard
    operators; the custom autograd Functions and compiled kernels have no
    ONNX form."""
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def compute_dtype(x: Tensor) -> torch.dtype:
    """float64 stays float64; everything else is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def use_triton(x: Tensor) -> bool:
    """Whether ``x`` goes to the Triton kernels (CUDA, not float64)."""
    return triton is not None and x.is_cuda and x.dtype != torch.float64


def cpu_kernels_enabled() -> bool:
    """Whether the compiled CPU kernels are built and switched on."""
    return _cpu_kernels_on


def use_cpu_kernels(x: Tensor) -> bool:
    """Whether ``x`` goes to the compiled CPU kernels (CPU, not float64:
    float64 stays on the PyTorch path, the exact reference)."""
    return _cpu_kernels_on and x.device.type == 'cpu' \
        and x.dtype != torch.float64


@contextlib.contextmanager
def cpu_kernels(enabled: bool) -> Iterator[None]:
    """Switch the compiled CPU kernels on or off inside the block (tests and
    benchmarks compare them with the PyTorch paths). ``MMACT_CPU_KERNELS=0``
    switches them off for a whole process."""
    global _cpu_kernels_on
    if enabled and not CPU_KERNELS_BUILT:
        raise RuntimeError(
            'mmact._C is not built (run tools/setup_env.sh, or '
            'pip install --no-build-isolation -e . on x86-64 with AVX2)')
    previous, _cpu_kernels_on = _cpu_kernels_on, enabled
    try:
        yield
    finally:
        _cpu_kernels_on = previous


def cpu_isa() -> Optional[str]:
    """The instruction set the compiled CPU kernels run: ``'avx512'`` where
    ATen's own kernels use AVX-512 (``torch.backends.cpu.
    get_cpu_capability()``, lowered by ``ATEN_CPU_CAPABILITY``), else
    ``'avx2'``; None without the kernels."""
    return torch.ops.mmact.cpu_isa() if CPU_KERNELS_BUILT else None


@contextlib.contextmanager
def vector_isa(isa: str) -> Iterator[None]:
    """Run the compiled CPU kernels in ``isa`` (``'avx2'`` or ``'avx512'``)
    inside the block: tests and benchmarks compare the two."""
    if not CPU_KERNELS_BUILT:
        raise RuntimeError('mmact._C is not built')
    previous = torch.ops.mmact.cpu_isa(isa)
    try:
        yield
    finally:
        torch.ops.mmact.cpu_isa(previous)
