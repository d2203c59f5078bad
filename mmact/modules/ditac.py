"""DiTAC modules: trainable diffeomorphic activations (four variants)."""
from typing import Any, ClassVar, Dict, Tuple

import torch
from torch import Tensor, nn

from ..functional import cpab
from ..functional import ditac as F_ditac
from ..ops._backend import compute_dtype, exporting
from ..ops.ditac import (DiTACSpec, Table, apply_ditac, build_table,
                         ditac_forward, ditac_warp)
from ..ops.ditac_export import ditac_traced, prepare_uniform_table
from ..registry import register_activation
from ..utils import check_positive, check_real

INITS = ('identity', 'prior')
# Tag of the θ parametrisation stored in checkpoints (see cpab.basis).
BASIS = 'vertex-velocity-v1'
BASES = (BASIS, )


def _key(theta: Tensor) -> Tuple[Any, ...]:
    # Changes with any change of θ: optimizer step, load_state_dict,
    # in-place edit, reassignment, a move to another device.
    return (theta.data_ptr(), theta._version, theta.device, theta.dtype)


def encode_settings(settings: Dict[str, Any]) -> Tensor:
    """A DiTAC module's settings as the int64 tensor stored in checkpoints
    (``_extra_state``): variant, cell count and basis as codes, a and b as
    their exact float64 bits. A tensor, not a dict, so that everything
    averaging a ``state_dict`` (mmengine's EMA with ``update_buffers``)
    handles it; an integer one, so averaging copies it unchanged."""
    ab = torch.tensor([settings['a'], settings['b']], dtype=torch.float64)
    codes = torch.tensor([
        F_ditac.VARIANTS.index(settings['variant']), settings['num_cells'],
        BASES.index(settings['basis'])
    ])
    return torch.cat([codes, ab.view(torch.int64)])


def decode_settings(state: Tensor) -> Dict[str, Any]:
    """Inverse of :func:`encode_settings`."""
    state = state.detach().cpu().to(torch.int64)
    a, b = state[3:5].view(torch.float64).tolist()
    return dict(variant=F_ditac.VARIANTS[int(state[0])], a=a, b=b,
                num_cells=int(state[1]), basis=BASES[int(state[2])])


class DiTACBase(nn.Module):
    """Shared implementation; subclasses fix the variant.

    Args:
        a: Left end of the warped window.
        b: Right end of the warped window (> a).
        num_cells: Cells of the CPA velocity field (>= 2).
        table_size: Points G of the uniform grid of the lookup table of T
            (>= num_cells + 1); its bins are refined where T bends sharply
            (up to 2 (G - 1) sub-bins in all, see :mod:`mmact.ops.ditac`).
        init: ``'identity'`` (θ = 0: exactly the base function, e.g. GELU,
            the right start for fine-tuning) or ``'prior'`` (a random smooth
            warp drawn from the smoothness prior, the official start).
        prior_length_scale: Length scale of the prior, in window units.
        prior_variance: Variance of the prior on vertex velocities.
        inplace: Accepted for ConvModule; computed out of place.
    """
    variant: ClassVar[str] = 'ditac'

    def __init__(self,
                 a: float = -0.5,
                 b: float = 2.0,
                 num_cells: int = 10,
                 table_size: int = 2048,
                 init: str = 'identity',
                 prior_length_scale: float = 0.3,
                 prior_variance: float = 0.035,
                 negative_slope: float = 0.01,
                 inplace: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        self.a = check_real(name, 'a', a)
        self.b = check_real(name, 'b', b)
        if self.a >= self.b:
            raise ValueError(f'{name}: a must be < b, got a={a}, b={b}')
        if not isinstance(num_cells, int) or num_cells < 2:
            raise ValueError(f'{name}: num_cells must be an int >= 2, got '
                             f'{num_cells!r}')
        if not isinstance(table_size, int) or table_size < num_cells + 1:
            raise ValueError(f'{name}: table_size must be an int >= '
                             f'num_cells + 1 = {num_cells + 1}, got '
                             f'{table_size!r}')
        if init not in INITS:
            raise ValueError(f'{name}: init must be one of {INITS}, got '
                             f'{init!r}')
        self.num_cells = num_cells
        self.table_size = table_size
        self.init = init
        self.prior_length_scale = check_positive(name, 'prior_length_scale',
                                                 prior_length_scale)
        self.prior_variance = check_positive(name, 'prior_variance',
                                             prior_variance)
        self.negative_slope = check_real(name, 'negative_slope',
                                         negative_slope)
        self.inplace = inplace
        d = cpab.theta_dim(num_cells, F_ditac.zero_boundary(self.variant))
        self.theta = nn.Parameter(torch.zeros(d))
        # (key of θ, table, θ): θ itself to check the key at export.
        self._cache: Tuple[Any, ...] = (None, None, None)
        self.reset_parameters()

    @property
    def spec(self) -> DiTACSpec:
        return DiTACSpec(self.a, self.b, self.variant, self.negative_slope)

    def reset_parameters(self) -> None:
        """θ from ``init``: zeros, or a draw from the smoothness prior."""
        with torch.no_grad():
            if self.init == 'identity':
                self.theta.zero_()
                return
            cov = F_ditac.prior_covariance(self.num_cells, self.variant,
                                           self.prior_length_scale,
                                           self.prior_variance)
            chol = torch.linalg.cholesky(
                cov + 1e-9 * torch.eye(len(cov), dtype=cov.dtype))
            draw = chol @ torch.randn(len(cov), dtype=torch.float64)
            self.theta.copy_(draw.to(self.theta))

    def tables(self, with_grad: bool) -> Table:
        """The lookup table of T (with dT/dθ if ``with_grad``) on θ's
        device; cached until θ changes in any way (optimizer step,
        load_state_dict, in-place edit, reassignment)."""
        theta = self.theta
        compiling = torch.compiler.is_compiling()  # traced: no Python cache
        key = None if compiling else _key(theta)
        cached_key, table, _ = self._cache
        if compiling or cached_key != key or (with_grad and table.J is None):
            table = build_table(theta.detach(), self.num_cells,
                                self.table_size, self.spec, with_grad,
                                compute_dtype(theta))
            if not compiling:
                self._cache = (key, table, theta)
        return table

    def exported_table(self) -> Table:
        """The table for a graph captured for export, where it becomes a
        constant: the one built from θ at the last eager forward (or by
        :func:`prepare_export`). The exporter traces θ as a placeholder, so
        the table cannot be built there; one older than θ is refused."""
        key, table, theta = self._cache
        if table is None or _key(theta) != key:
            raise RuntimeError(
                f'{type(self).__name__}: no table for the current θ to '
                'export (θ changed since the last forward, or no forward ran):'
                ' call mmact.prepare_export(model) before exporting')
        return table

    @torch.no_grad()
    def prepare_export(self) -> None:
        """Build the table of the current θ and its exported form."""
        prepare_uniform_table(self.tables(with_grad=False), self.spec)

    def forward(self, x: Tensor) -> Tensor:
        if exporting():
            return ditac_traced(x, self.exported_table(), self.spec)
        grad = torch.is_grad_enabled() and (x.requires_grad
                                            or self.theta.requires_grad)
        table = self.tables(with_grad=grad)
        if not grad:
            return ditac_forward(x, table, self.spec)
        return apply_ditac(x, self.theta, table, self.spec)

    @torch.no_grad()
    def warp(self, x: Tensor) -> Tensor:
        """x̃: the warped input values, as the forward computes them."""
        return ditac_warp(x, self.tables(with_grad=False), self.spec)

    @torch.no_grad()
    def velocity(self, u: Tensor) -> Tensor:
        """The CPA velocity field v_θ(u) on Ω = [0, 1] (float64)."""
        B = cpab.basis(self.num_cells, F_ditac.zero_boundary(self.variant),
                       device=self.theta.device)
        return cpab.velocity(u.to(torch.float64),
                             B @ self.theta.detach().to(torch.float64))

    def prior_energy(self) -> Tensor:
        """θᵀ Σ⁻¹ θ under the smoothness prior (differentiable).

        Computed in float64: Σ of a smooth prior is ill-conditioned.
        """
        precision = F_ditac.prior_precision(
            self.num_cells, self.variant, self.prior_length_scale,
            self.prior_variance).to(self.theta.device)
        theta = self.theta.double()
        return (theta @ precision @ theta).to(self.theta.dtype)

    def settings(self) -> Dict[str, Any]:
        """What a checkpoint needs to interpret θ anywhere."""
        return dict(variant=self.variant, a=self.a, b=self.b,
                    num_cells=self.num_cells, basis=BASIS)

    def get_extra_state(self) -> Tensor:
        return encode_settings(self.settings())

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        # The loaded θ's table and exported form, built now: an exporter
        # that is handed the loaded model (mmdeploy) captures them without
        # a forward first.
        if not self.theta.is_meta:
            self.prepare_export()

    def set_extra_state(self, state: Any) -> None:
        if isinstance(state, Tensor):
            state = decode_settings(state)
        mine = self.settings()
        diff = {k: (state.get(k), v) for k, v in mine.items()
                if state.get(k) != v}
        if diff:
            raise ValueError(
                f'{type(self).__name__}: checkpoint θ was trained with other '
                'settings (checkpoint, module): ' + ', '.join(
                    f'{k}={c!r} vs {m!r}' for k, (c, m) in diff.items()))

    def extra_repr(self) -> str:
        return (f'a={self.a}, b={self.b}, num_cells={self.num_cells}, '
                f'table_size={self.table_size}, init={self.init!r}')


@register_activation('DiTAC', family='ditac', learnable='yes',
                     aliases=('ditac', ))
class DiTAC(DiTACBase):
    """GELU-like DiTAC: y = x̃ Φ(x) in [a, b], GELU outside (θ = 0: GELU)."""
    variant = 'ditac'


@register_activation('GEDiTAC', family='ditac', learnable='yes',
                     aliases=('GE-DiTAC', 'ge_ditac'))
class GEDiTAC(DiTACBase):
    """GE-DiTAC: GELU for x < 0, the warp x̃ on [a, b] (a >= 0), x beyond.

    Args: as DiTAC, with ``a`` defaulting to 0.
    """
    variant = 'ge'

    def __init__(self, a: float = 0.0, **kwargs) -> None:
        if check_real('GEDiTAC', 'a', a) < 0:
            raise ValueError(f'GEDiTAC: a must be >= 0 (GELU covers x < 0), '
                             f'got {a}')
        super().__init__(a=a, **kwargs)


@register_activation('LDiTAC', family='ditac', learnable='yes',
                     aliases=('L-DiTAC', 'LeakyDiTAC', 'l_ditac'))
class LDiTAC(DiTACBase):
    """Leaky DiTAC: LeakyReLU(x̃) — the warp on [a, b], LeakyReLU outside,
    continuous also for a < 0 (θ = 0: LeakyReLU).

    Args: as DiTAC, plus ``negative_slope`` of the LeakyReLU (0.01).
    """
    variant = 'leaky'


@register_activation('InfDiTAC', family='ditac', learnable='yes',
                     aliases=('inf-DiTAC', 'inf_ditac'))
class InfDiTAC(DiTACBase):
    """inf-DiTAC: the warp on [a, b] with a free boundary velocity, and the
    edge cells' affine flows continued to ±∞ (θ = 0: identity)."""
    variant = 'inf'


VARIANT_CLASSES = {cls.variant: cls for cls in (DiTAC, GEDiTAC, LDiTAC,
                                                 InfDiTAC)}


@torch.no_grad()
def prepare_export(model: nn.Module) -> nn.Module:
    """Build every DiTAC table of ``model`` from the current θ, and its
    exported form, so that an export (``torch.onnx.export``,
    ``torch.export``) captures them as constants. Returns ``model``."""
    for module in model.modules():
        if isinstance(module, DiTACBase):
            module.prepare_export()
    return model
