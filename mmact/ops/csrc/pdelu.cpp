// PDELU on CPU: the passes of mmact/ops/pdelu.py fused into one
// vectorised loop each (ATen's TensorIterator: α broadcast per channel or
// as a scalar, any layout of x, split across threads). Negative part
// f(x) = [max(0, 1 + (1 - t)x)]^(1 / (1 - t)) - 1, or expm1(x) in the ELU
// limit; f'(x) = [max(0, 1 + (1 - t)x)]^(t / (1 - t)), or exp(x).
#include <ATen/ATen.h>
#include <ATen/TensorIterator.h>
#include <ATen/native/cpu/Loops.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "common.h"

namespace mmact {
namespace {

struct Pdelu {
  float k, power, grad_power;  // 1 - t, 1 / (1 - t), t / (1 - t)
  bool elu;

  Pdelu(double t, bool elu_limit)
      : k(static_cast<float>(1 - t)),
        power(elu_limit ? 0.f : static_cast<float>(1 / (1 - t))),
        grad_power(elu_limit ? 0.f : static_cast<float>(t / (1 - t))),
        elu(elu_limit) {}

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
    return elu ? at::vec::minimum(x, Vec(0.f)).expm1()
               : (base(x).log() * Vec(power)).exp() - Vec(1.f);
  }
  // f and f' sharing log b (and the exp in the ELU limit).
  void both(const Vec& x, Vec& f_out, Vec& df_out) const {
    if (elu) {
      df_out = at::vec::minimum(x, Vec(0.f)).exp();
      f_out = df_out - Vec(1.f);  // absolute error ~1e-7: enough for dL/dα
      return;
    }
    const Vec lb = base(x).log();
    f_out = (lb * Vec(power)).exp() - Vec(1.f);
    df_out = (lb * Vec(grad_power)).exp();
  }
  float df(float x) const {
    return elu ? std::exp(std::min(x, 0.f)) : std::pow(base(x), grad_power);
  }
  Vec df(const Vec& x) const {
    return elu ? at::vec::minimum(x, Vec(0.f)).exp()
               : (base(x).log() * Vec(grad_power)).exp();
  }
};

void check_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat,
              "mmact::pdelu: ", name, " must be a float32 CPU tensor, got ",
              t.scalar_type(), " on ", t.device());
}

at::Tensor pdelu_forward(const at::Tensor& x, const at::Tensor& alpha,
                         double t, bool elu) {
  check_float(x, "x");
  check_float(alpha, "alpha");
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

// Both backward outputs in one pass, sharing loads and log b: TensorIterator
// gives 2-D blocks (operands gx, ga, x, grad, α; inner strides first); the
// inner loop runs on vectors where x, grad and the outputs are contiguous and
// α is contiguous or broadcast along it, else element by element.
void backward_both(at::TensorIterator& iter, const Pdelu& p) {
  iter.for_each([&p](char** data, const int64_t* strides, int64_t n,
                     int64_t outer) {
    const int64_t* s = strides;
    const bool vectorised = s[0] == 4 && s[1] == 4 && s[2] == 4 &&
                            s[3] == 4 && (s[4] == 0 || s[4] == 4);
    for (int64_t j = 0; j < outer; ++j) {
      char* ptr[5];
      for (int k = 0; k < 5; ++k) ptr[k] = data[k] + j * strides[5 + k];
      int64_t i = 0;
      if (vectorised) {
        auto* gx = reinterpret_cast<float*>(ptr[0]);
        auto* ga = reinterpret_cast<float*>(ptr[1]);
        const auto* x = reinterpret_cast<const float*>(ptr[2]);
        const auto* g = reinterpret_cast<const float*>(ptr[3]);
        const auto* a = reinterpret_cast<const float*>(ptr[4]);
        for (; i + kLanes <= n; i += kLanes) {
          const Vec v = Vec::loadu(x + i), gv = Vec::loadu(g + i);
          const Vec av = s[4] ? Vec::loadu(a + i) : Vec(*a);
          const Vec positive = v > Vec(0.f);
          Vec f, df;
          p.both(v, f, df);
          Vec::blendv(gv * av * df, gv, positive).store(gx + i);
          Vec::blendv(gv * f, Vec(0.f), positive).store(ga + i);
        }
      }
      for (; i < n; ++i) {
        const float v = *reinterpret_cast<const float*>(ptr[2] + i * s[2]);
        const float g = *reinterpret_cast<const float*>(ptr[3] + i * s[3]);
        const float a = *reinterpret_cast<const float*>(ptr[4] + i * s[4]);
        *reinterpret_cast<float*>(ptr[0] + i * s[0]) =
            v > 0.f ? g : g * a * p.df(v);
        *reinterpret_cast<float*>(ptr[1] + i * s[1]) =
            v > 0.f ? 0.f : g * p.f(v);
      }
    }
  });
}

// (grad_x, g f(x) per element where x <= 0, to be summed to α's shape; an
// empty tensor when alpha_grad is false).
std::tuple<at::Tensor, at::Tensor> pdelu_backward(const at::Tensor& x,
                                                  const at::Tensor& grad,
                                                  const at::Tensor& alpha,
                                                  double t, bool elu,
                                                  bool alpha_grad) {
  check_float(x, "x");
  check_float(grad, "grad");
  check_float(alpha, "alpha");
  const Pdelu p(t, elu);
  at::Tensor grad_x, grad_alpha;
  at::TensorIteratorConfig config;
  config.add_output(grad_x);
  if (alpha_grad) config.add_output(grad_alpha);
  auto iter = config.add_const_input(x)
                  .add_const_input(grad)
                  .add_const_input(alpha)
                  .build();
  if (alpha_grad) {
    backward_both(iter, p);
    return {iter.output(0), iter.output(1)};
  }
  at::native::cpu_kernel_vec(
      iter,
      [p](float v, float g, float a) -> float {
        return v > 0.f ? g : g * a * p.df(v);
      },
      [p](Vec v, Vec g, Vec a) -> Vec {
        return Vec::blendv(g * a * p.df(v), g, v > Vec(0.f));
      });
  return {iter.output(), at::empty({0}, x.options())};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def("pdelu_forward(Tensor x, Tensor alpha, float t, bool elu) -> Tensor");
  m.def(
      "pdelu_backward(Tensor x, Tensor grad, Tensor alpha, float t, bool elu,"
      " bool alpha_grad) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("pdelu_forward", &pdelu_forward);
  m.impl("pdelu_backward", &pdelu_backward);
}

}  // namespace mmact
