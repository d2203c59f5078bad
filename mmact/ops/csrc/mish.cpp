// Mish on CPU, y = x tanh(softplus(x)), fused: with e = exp(x) and
// n = e (e + 2), tanh(softplus(x)) = n / (n + 2), one exp and one division
// per element (ATen's CPU mish computes softplus, tanh and their
// derivatives separately). dy/dx = t + x (1 - t²) σ(x), t = n / (n + 2).
// Past x = 20 (e² overflows as x grows) t = 1 and σ(x) = 1 to float32.
#include <ATen/ATen.h>
#include <ATen/TensorIterator.h>
#include <ATen/native/cpu/Loops.h>
#include <torch/library.h>

#include <cmath>

#include "common.h"

namespace mmact {
namespace {

constexpr float kLinear = 20.f;

inline float tanh_softplus(float x) {
  if (x > kLinear) return 1.f;
  const float e = std::exp(x), n = e * (e + 2.f);
  return n / (n + 2.f);
}

inline Vec tanh_softplus(const Vec& x, Vec& e) {
  e = at::vec::minimum(x, Vec(kLinear)).exp();
  const Vec n = e * (e + Vec(2.f));
  return Vec::blendv(n / (n + Vec(2.f)), Vec(1.f), x > Vec(kLinear));
}

at::Tensor mish_forward(const at::Tensor& x) {
  check_cpu(x, "mish", "x", at::kFloat);
  at::Tensor y;
  auto iter = at::TensorIterator::unary_op(y, x);
  at::native::cpu_kernel_vec(
      iter, [](float v) -> float { return v * tanh_softplus(v); },
      [](Vec v) -> Vec {
        Vec e;
        return v * tanh_softplus(v, e);
      });
  return iter.output();
}

at::Tensor mish_backward(const at::Tensor& x, const at::Tensor& grad) {
  check_cpu(x, "mish", "x", at::kFloat);
  check_cpu(grad, "mish", "grad", at::kFloat);
  at::Tensor dx;
  auto iter = at::TensorIteratorConfig()
                  .add_output(dx)
                  .add_const_input(x)
                  .add_const_input(grad)
                  .build();
  at::native::cpu_kernel_vec(
      iter,
      [](float v, float g) -> float {
        const float t = tanh_softplus(v);
        const float s = 1.f / (1.f + std::exp(-v));
        return g * (t + v * (1.f - t * t) * s);
      },
      [](Vec v, Vec g) -> Vec {
        Vec e;
        const Vec t = tanh_softplus(v, e);
        const Vec s = Vec::blendv(e / (e + Vec(1.f)), Vec(1.f),
                                  v > Vec(kLinear));
        return g * at::vec::fmadd(v * (Vec(1.f) - t * t), s, t);
      });
  return iter.output();
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def("mish_forward(Tensor x) -> Tensor");
  m.def("mish_backward(Tensor x, Tensor grad) -> Tensor");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("mish_forward", &mish_forward);
  m.impl("mish_backward", &mish_backward);
}

}  // namespace mmact
