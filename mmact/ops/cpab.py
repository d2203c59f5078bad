"""CPAB integration as a kernel: T_θ(u), dT/du and dT/dθ for many points.

DiTAC rebuilds its tables (G ~ 2k points) after every optimizer step. The
vectorised reference, :func:`mmact.functional.cpab.integrate`, spends about
5 ms on that in a few hundred tiny tensor ops (one pass per possible cell
hop), which dominates a small model's training step and, on a GPU, costs a
few hundred kernel launches per DiTAC layer. Here each point is integrated
by one thread, hop by hop, with the same closed forms:

* CPU: the compiled kernel of ``csrc/cpab.cpp`` (``mmact._C``), when built
  and switched on (:func:`mmact.ops._backend.cpu_kernels`);
* CUDA: the Triton kernel below (one launch);
* otherwise the reference.

Everything is float64 (the Triton kernel writes its series coefficients
as integer ratios: Python float literals would enter as float32).
"""
import torch
from torch import Tensor

from ..functional import cpab as F_cpab
from ._backend import cpu_kernels_enabled, tl, triton


def block_size(d_pad: int, with_grad: bool) -> int:
    """Points per program: 64, or with dT/dθ, where each point holds a
    (D_PAD,) float64 accumulator in registers, 512 / D_PAD so that it does
    not spill (ptxas, sm_80 and sm_90: see tools/triton_aot.py)."""
    return max(8, min(64, 512 // d_pad)) if with_grad else 64


def integrate(u: Tensor,
              theta: Tensor,
              nc: int,
              zero_boundary: bool = True,
              t: float = 1.0,
              with_grad_theta: bool = False) -> F_cpab.Flow:
    """:func:`mmact.functional.cpab.integrate`, by the fastest kernel for
    ``u``'s device (arguments and result as there)."""
    on_cuda = u.is_cuda and triton is not None
    if not (on_cuda or (u.device.type == 'cpu' and cpu_kernels_enabled())):
        return F_cpab.integrate(u, theta, nc, zero_boundary, t,
                                with_grad_theta)
    A, B = F_cpab.coefficients(theta.detach(), nc, zero_boundary, u.device)
    flat = u.detach().reshape(-1).to(torch.float64).contiguous()
    kernel = _triton_integrate if on_cuda else \
        torch.ops.mmact.cpab_integrate
    T, grad_u, J = kernel(flat, A, B.contiguous(), float(t), with_grad_theta)
    return F_cpab.Flow(T.view(u.shape), grad_u.view(u.shape),
                       J.view(*u.shape, -1) if with_grad_theta else None)


if triton is not None:

    @triton.jit
    def _cpab_kernel(u_ptr, A_ptr, B_ptr, t_ptr, T_ptr, gu_ptr, J_ptr, n, nc,
                     d, WITH_GRAD: tl.constexpr, D_PAD: tl.constexpr,
                     BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        start = tl.load(u_ptr + offs, mask=mask, other=0.0)
        ncf = nc.to(tl.float64)
        # Cell of each point (edge cells outside Ω); clamped before the cast.
        c = tl.minimum(tl.maximum(start * ncf, 0.0), ncf - 1.0).to(tl.int32)
        x = start
        tau = tl.zeros_like(start) + tl.load(t_ptr)
        hopped = offs < 0
        cols = tl.arange(0, D_PAD)
        col_mask = cols < d
        dtau = tl.zeros((BLOCK, D_PAD), dtype=tl.float64)
        v_start = tl.load(A_ptr + 2 * c) * start + tl.load(A_ptr + 2 * c + 1)
        for _ in range(0, nc + 1):
            a = tl.load(A_ptr + 2 * c)
            b = tl.load(A_ptr + 2 * c + 1)
            v = a * x + b
            right = v > 0
            exit_x = (c + right.to(tl.int32)).to(tl.float64) / ncf
            v_exit = a * exit_x + b
            boundary = (right & (c == nc - 1)) | ((~right) & (c == 0))
            can_exit = (v != 0) & (v * v_exit > 0) & (~boundary)
            delta = exit_x - x
            v_safe = tl.where(can_exit, v, 1.0)
            w = tl.where(can_exit, a * delta / v_safe, 0.0)
            small = tl.abs(w) < 1e-3
            w_safe = tl.where(small, 1.0, w)
            log1p_over = tl.where(small, 1 - w / 2 + w * w / 3 - w * w * w / 4,
                                  tl.log(1.0 + w_safe) / w_safe)
            t_hit = tl.where(can_exit, delta / v_safe * log1p_over,
                             float('inf'))
            hop = (t_hit < tau) & mask
            if WITH_GRAD:
                ve_safe = tl.where(can_exit, v_exit, 1.0)
                g_w = tl.where(
                    small, -0.5 + 2 * w / 3 - 3 * w * w / 4 + 4 * w * w * w / 5,
                    (w_safe / (1.0 + w_safe) - tl.log(1.0 + w_safe)) /
                    (w_safe * w_safe))
                dt_db = -delta / (v_safe * ve_safe)
                dt_da = (delta / v_safe) * (delta / v_safe) * g_w - \
                    delta * x / (v_safe * ve_safe)
                rows = (2 * c)[:, None] * d + cols[None, :]
                both = col_mask[None, :] & hop[:, None]
                alpha = tl.load(B_ptr + rows, mask=both, other=0.0)
                beta = tl.load(B_ptr + rows + d, mask=both, other=0.0)
                dtau -= dt_da[:, None] * alpha + dt_db[:, None] * beta
            tau = tl.where(hop, tau - t_hit, tau)
            x = tl.where(hop, exit_x, x)
            c = tl.where(hop, c + tl.where(right, 1, -1), c)
            hopped = hopped | hop
        a = tl.load(A_ptr + 2 * c)
        b = tl.load(A_ptr + 2 * c + 1)
        z = tau * a
        small = tl.abs(z) < 1e-3
        z_safe = tl.where(small, 1.0, z)
        ez = tl.exp(z_safe)
        p = tl.where(small, 1 + z / 2 + z * z / 6 + z * z * z / 24,
                     (ez - 1.0) / z_safe)
        end = x + tau * (a * x + b) * p
        v_end = a * end + b
        tl.store(T_ptr + offs, end, mask=mask)
        grad_u = tl.where(hopped, v_end / tl.where(hopped, v_start, 1.0),
                          tl.exp(z))
        tl.store(gu_ptr + offs, grad_u, mask=mask)
        if WITH_GRAD:
            dp = tl.where(small, 0.5 + z / 3 + z * z / 8 + z * z * z / 30,
                          (z_safe * ez - (ez - 1.0)) / (z_safe * z_safe))
            dpsi_db = tau * p
            dpsi_da = tau * x * p + tau * tau * (a * x + b) * dp
            rows = (2 * c)[:, None] * d + cols[None, :]
            both = col_mask[None, :] & mask[:, None]
            alpha = tl.load(B_ptr + rows, mask=both, other=0.0)
            beta = tl.load(B_ptr + rows + d, mask=both, other=0.0)
            J = dpsi_da[:, None] * alpha + dpsi_db[:, None] * beta + \
                v_end[:, None] * dtau
            tl.store(J_ptr + offs[:, None] * d + cols[None, :], J, mask=both)


def _triton_integrate(u: Tensor, A: Tensor, B: Tensor, t: float,
                      with_grad: bool):
    n, nc, d = u.numel(), A.numel() // 2, B.shape[1]
    T, grad_u = torch.empty_like(u), torch.empty_like(u)
    J = u.new_empty((n if with_grad else 0, d))
    if n:
        # t as a float64 tensor: scalar kernel arguments would be float32.
        d_pad = triton.next_power_of_2(d)
        block = block_size(d_pad, with_grad)
        _cpab_kernel[(triton.cdiv(n, block), )](
            u, A, B, u.new_tensor([t]), T, grad_u, J, n, nc, d,
            WITH_GRAD=with_grad, D_PAD=d_pad, BLOCK=block)
    return T, grad_u, J
