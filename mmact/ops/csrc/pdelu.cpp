// PDELU on CPU: the op of mmact/ops/pdelu.py fused. Negative part
// f(x) = [max(0, 1 + (1 - t)x)]^(1 / (1 - t)) - 1, or expm1(x) in the ELU
// limit; f'(x) = [max(0, 1 + (1 - t)x)]^(t / (1 - t)), or exp(x).
// Forward: one TensorIterator pass (α broadcast, any layout). Backward:
// channel_backward (channel_reduce.h) with the sums of g f(x) over x <= 0
// per sample and channel.
#include <ATen/ATen.h>
#include <ATen/TensorIterator.h>
#include <ATen/native/cpu/Loops.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>

#include "channel_reduce.h"
#include "common.h"

namespace mmact {
namespace {

// b^n for a small whole n by squaring: t = 0.9 (the default) gives
// n = 10, four multiplications instead of a log and an exp.
inline Vec power_of(Vec b, int64_t n) {
  Vec result(1.f);
  for (; n; n >>= 1, b = b * b) {
    if (n & 1) result = result * b;
  }
  return result;
}

struct Pdelu {
  float k, power, grad_power;  // 1 - t, 1 / (1 - t), t / (1 - t)
  bool elu;
  int64_t whole;  // power when a whole number <= 64, else 0

  Pdelu(double t, bool elu_limit)
      : k(static_cast<float>(1 - t)),
        power(elu_limit ? 0.f : static_cast<float>(1 / (1 - t))),
        grad_power(elu_limit ? 0.f : static_cast<float>(t / (1 - t))),
        elu(elu_limit),
        whole(!elu_limit && power == std::nearbyint(power) && power >= 1.f &&
                      power <= 64.f
                  ? static_cast<int64_t>(power)
                  : 0) {}

  float base(float x) const {  // NaN stays NaN (std::max would drop it)
    const float b = 1.f + k * std::min(x, 0.f);
    return b < 0.f ? 0.f : b;
  }
  Vec base(const Vec& x) const {
    return at::vec::maximum(
        at::vec::fmadd(Vec(k), at::vec::minimum(x, Vec(0.f)), Vec(1.f)),
        Vec(0.f));
  }
  float f(float x) const {
    return elu ? std::expm1(std::min(x, 0.f)) : std::pow(base(x), power) - 1.f;
  }
  // b^p as exp(p log b): a third of Sleef's pow; b = 0 gives 0 (p > 0).
  Vec f(const Vec& x) const {
    if (elu) return at::vec::minimum(x, Vec(0.f)).expm1();
    if (whole) return power_of(base(x), whole) - Vec(1.f);
    return (base(x).log() * Vec(power)).exp() - Vec(1.f);
  }
  // f and f' sharing log b (and the exp in the ELU limit).
  void both(const Vec& x, Vec& f_out, Vec& df_out) const {
    if (elu) {
      df_out = at::vec::minimum(x, Vec(0.f)).exp();
      f_out = df_out - Vec(1.f);  // absolute error ~1e-7: enough for dL/dα
      return;
    }
    if (whole) {  // grad_power = power - 1
      const Vec b = base(x);
      df_out = power_of(b, whole - 1);
      f_out = df_out * b - Vec(1.f);
      return;
    }
    const Vec lb = base(x).log();
    f_out = (lb * Vec(power)).exp() - Vec(1.f);
    df_out = (lb * Vec(grad_power)).exp();
  }
};

at::Tensor pdelu_forward(const at::Tensor& x, const at::Tensor& alpha,
                         double t, bool elu) {
  check_cpu(x, "pdelu", "x", at::kFloat);
  check_cpu(alpha, "pdelu", "alpha", at::kFloat);
  const Pdelu p(t, elu);
  at::Tensor y;
  auto iter = at::TensorIteratorConfig()
                  .add_output(y)
                  .add_const_input(x)
                  .add_const_input(alpha)
                  .build();
  at::native::cpu_kernel_vec(
      iter,
      [p](float v, float a) -> float { return v > 0.f ? v : a * p.f(v); },
      [p](Vec v, Vec a) -> Vec {
        return Vec::blendv(a * p.f(v), v, v > Vec(0.f));
      });
  return iter.output();
}

// (grad_x, (N, C, 1) sums of g f(x) over x <= 0): channel_backward
// (channel_reduce.h) over x viewed as (N, M, K), α as (N, C).
std::tuple<at::Tensor, at::Tensor> pdelu_backward(const at::Tensor& x,
                                                  const at::Tensor& grad,
                                                  const at::Tensor& alpha,
                                                  double t, bool elu,
                                                  bool channels_inner) {
  const Pdelu p(t, elu);
  return channel_backward<1, 1>(
      "pdelu", x, grad, {alpha}, channels_inner,
      [&p](const Vec& v, const Vec& g, const std::array<Vec, 1>& a, Vec& gx,
           std::array<Vec, 1>& terms) {
        const Vec positive = v > Vec(0.f);
        Vec f, df;
        p.both(v, f, df);
        gx = Vec::blendv(g * a[0] * df, g, positive);
        terms[0] = Vec::blendv(g * f, Vec(0.f), positive);
      });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def("pdelu_forward(Tensor x, Tensor alpha, float t, bool elu) -> Tensor");
  m.def(
      "pdelu_backward(Tensor x, Tensor grad, Tensor alpha, float t, bool elu,"
      " bool channels_inner) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("pdelu_forward", &pdelu_forward);
  m.impl("pdelu_backward", &pdelu_backward);
}

}  // namespace mmact
