// CPAB integration on CPU in float64 (torch.ops.mmact.cpab_integrate): the
// points of cpab.h, one per loop iteration. Same contract and math as
// integrate() of mmact/functional/cpab.py (the reference, which the tests
// compare with): DiTAC's tables (G ~ 2k points, rebuilt after every
// optimizer step) take microseconds here instead of the milliseconds the
// vectorised version spends launching a few hundred tiny tensor ops.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <tuple>

#include "common.h"
#include "cpab.h"

namespace mmact {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> cpab_integrate(
    const at::Tensor& u, const at::Tensor& A, const at::Tensor& B, double t,
    bool with_grad) {
  check_cpu(u, "cpab_integrate", "u", at::kDouble, 1);
  check_cpu(A, "cpab_integrate", "A", at::kDouble, 1);
  check_cpu(B, "cpab_integrate", "B", at::kDouble, 2);
  const int64_t nc = A.numel() / 2, d = B.size(1), n = u.numel();
  TORCH_CHECK(nc >= 1 && A.numel() == 2 * nc && B.size(0) == 2 * nc,
              "mmact::cpab_integrate: A must hold 2 nc coefficients and B "
              "2 nc rows, got A ",
              A.sizes(), " and B ", B.sizes());
  const cpab::Field f{A.data_ptr<double>(), B.data_ptr<double>(), nc, d};
  at::Tensor T = at::empty({n}, u.options());
  at::Tensor grad_u = at::empty({n}, u.options());
  at::Tensor J = at::empty({with_grad ? n : 0, d}, u.options());
  const double* src = u.data_ptr<double>();
  double* T_out = T.data_ptr<double>();
  double* gu_out = grad_u.data_ptr<double>();
  double* J_out = with_grad ? J.data_ptr<double>() : nullptr;
  cpab::integrate_points(f, src, n, t, T_out, gu_out, J_out);
  return {T, grad_u, J};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def(
      "cpab_integrate(Tensor u, Tensor A, Tensor B, float t, bool with_grad)"
      " -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("cpab_integrate", &cpab_integrate);
}

}  // namespace mmact
