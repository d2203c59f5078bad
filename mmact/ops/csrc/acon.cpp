// ACON-C on CPU: the op of mmact/ops/acon.py fused. With d = p1 - p2,
// z = β d x, σ = σ(z) and h = σ + z σ(1 - σ): y = d x σ + p2 x,
// dy/dx = p2 + d h, dy/dp1 = x h, dy/dp2 = x (1 - h),
// dy/dβ = (d x)² σ(1 - σ).
// Both over x viewed as (N, M, K) with (N, C) parameters (channel_reduce.h):
// the forward one pass; the backward one pass with the sums g x h, g x and
// g (d x)² σ(1 - σ) per sample and channel.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <array>
#include <tuple>

#include "channel_reduce.h"
#include "common.h"

namespace mmact {
namespace {

inline Vec sigmoid(const Vec& z) {
  return Vec(1.f) / (Vec(1.f) + z.neg().exp());
}

at::Tensor acon_forward(const at::Tensor& x, const at::Tensor& p1,
                        const at::Tensor& p2, const at::Tensor& beta,
                        bool channels_inner) {
  return channel_forward<3>(
      "acon", x, {p1, p2, beta}, channels_inner,
      [](const Vec& v, const std::array<Vec, 3>& p) {
        const Vec dx = (p[0] - p[1]) * v;
        return at::vec::fmadd(dx, sigmoid(p[2] * dx), p[1] * v);
      });
}

std::tuple<at::Tensor, at::Tensor> acon_backward(
    const at::Tensor& x, const at::Tensor& grad, const at::Tensor& p1,
    const at::Tensor& p2, const at::Tensor& beta, bool channels_inner) {
  return channel_backward<3, 3>(
      "acon", x, grad, {p1, p2, beta}, channels_inner,
      [](const Vec& v, const Vec& g, const std::array<Vec, 3>& p, Vec& gx,
         std::array<Vec, 3>& terms) {
        const Vec d = p[0] - p[1];
        const Vec dx = d * v;
        const Vec z = p[2] * dx;
        const Vec s = sigmoid(z);
        const Vec ds = s * (Vec(1.f) - s);
        const Vec h = at::vec::fmadd(z, ds, s);
        const Vec gv = g * v;
        gx = g * at::vec::fmadd(d, h, p[1]);
        terms = {gv * h, gv, g * dx * dx * ds};
      });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def(
      "acon_forward(Tensor x, Tensor p1, Tensor p2, Tensor beta, "
      "bool channels_inner) -> Tensor");
  m.def(
      "acon_backward(Tensor x, Tensor grad, Tensor p1, Tensor p2, Tensor beta,"
      " bool channels_inner) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("acon_forward", &acon_forward);
  m.impl("acon_backward", &acon_backward);
}

}  // namespace mmact
