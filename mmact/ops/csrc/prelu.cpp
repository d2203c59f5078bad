// PReLU on CPU: y = x for x > 0, a x otherwise. ATen's CPU backward takes
// 3-3.5x GELU's forward + backward (a TensorIterator reduction for dL/da);
// here the backward is one channel_backward pass (channel_reduce.h) that
// writes grad_x and sums g x over x <= 0 per sample and channel.
#include <ATen/ATen.h>
#include <ATen/TensorIterator.h>
#include <ATen/native/cpu/Loops.h>
#include <torch/library.h>

#include <array>
#include <tuple>

#include "channel_reduce.h"
#include "common.h"

namespace mmact {
namespace {

at::Tensor prelu_forward(const at::Tensor& x, const at::Tensor& weight) {
  check_cpu(x, "prelu", "x", at::kFloat);
  check_cpu(weight, "prelu", "weight", at::kFloat);
  at::Tensor y;
  auto iter = at::TensorIteratorConfig()
                  .add_output(y)
                  .add_const_input(x)
                  .add_const_input(weight)
                  .build();
  at::native::cpu_kernel_vec(
      iter, [](float v, float a) -> float { return v > 0.f ? v : a * v; },
      [](Vec v, Vec a) -> Vec {
        return Vec::blendv(a * v, v, v > Vec(0.f));
      });
  return iter.output();
}

// (grad_x, (N, C, 1) sums of g x over x <= 0) over x viewed as (N, M, K),
// the weight as (N, C).
std::tuple<at::Tensor, at::Tensor> prelu_backward(const at::Tensor& x,
                                                  const at::Tensor& grad,
                                                  const at::Tensor& weight,
                                                  bool channels_inner) {
  return channel_backward<1, 1>(
      "prelu", x, grad, {weight}, channels_inner,
      [](const Vec& v, const Vec& g, const std::array<Vec, 1>& a, Vec& gx,
         std::array<Vec, 1>& terms) {
        const Vec positive = v > Vec(0.f);
        gx = Vec::blendv(g * a[0], g, positive);
        terms[0] = Vec::blendv(g * v, Vec(0.f), positive);
      });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def("prelu_forward(Tensor x, Tensor weight) -> Tensor");
  m.def(
      "prelu_backward(Tensor x, Tensor grad, Tensor weight,"
      " bool channels_inner) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("prelu_forward", &prelu_forward);
  m.impl("prelu_backward", &prelu_backward);
}

}  // namespace mmact
