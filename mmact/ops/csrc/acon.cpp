// ACON-C on CPU: the op of mmact/ops/acon.py fused. With d = p1 - p2,
// z = β d x, σ = σ(z) and h = σ + z σ(1 - σ): y = d x σ + p2 x,
// dy/dx = p2 + d h, dy/dp1 = x h, dy/dp2 = x (1 - h),
// dy/dβ = (d x)² σ(1 - σ).
// Forward: one TensorIterator pass (parameters broadcast, any layout).
// Backward: one pass over x and grad viewed as (N, M, K), writing grad_x and
// the parameter gradients already summed per sample and channel (g x h,
// g x, g (d x)² σ'), with the channel either outer (index m: NCHW, rows of
// K elements share their parameters) or inner (index k: channels-last and
// token layouts, parameters loaded as vectors along the row).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <ATen/native/cpu/Loops.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "common.h"

namespace mmact {
namespace {

// Float partial sums are flushed into float64 after this many elements.
constexpr int64_t kFlush = 4096;

// How many rows of k elements make up `elements` (at least one).
inline int64_t rows_of(int64_t elements, int64_t k) {
  return std::max<int64_t>(1, elements / std::max<int64_t>(k, 1));
}

inline float sigmoid(float z) { return 1.f / (1.f + std::exp(-z)); }
inline Vec sigmoid(const Vec& z) {
  return Vec(1.f) / (Vec(1.f) + z.neg().exp());
}

// grad_x and the three per-element sum terms of one element (or lanes).
template <typename T>
struct Terms {
  T gx, gxh, gx_, gb;
};

template <typename T>
inline Terms<T> terms(const T& x, const T& g, const T& p1, const T& p2,
                      const T& beta) {
  const T d = p1 - p2;
  const T dx = d * x;
  const T z = beta * dx;
  const T s = sigmoid(z);
  const T ds = s * (T(1.f) - s);
  const T h = s + z * ds;
  const T gx = g * x;
  return {g * (p2 + d * h), gx * h, gx, g * dx * dx * ds};
}

void check_float(const at::Tensor& t, const char* name, int64_t dim) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat &&
                  (dim < 0 || (t.dim() == dim && t.is_contiguous())),
              "mmact::acon: ", name, " must be a float32 CPU tensor",
              dim < 0 ? "" : " (contiguous, the stated rank)", ", got ",
              t.scalar_type(), " ", t.sizes(), " on ", t.device());
}

at::Tensor acon_forward(const at::Tensor& x, const at::Tensor& p1,
                        const at::Tensor& p2, const at::Tensor& beta) {
  check_float(x, "x", -1);
  check_float(p1, "p1", -1);
  check_float(p2, "p2", -1);
  check_float(beta, "beta", -1);
  at::Tensor y;
  auto iter = at::TensorIteratorConfig()
                  .add_output(y)
                  .add_const_input(x)
                  .add_const_input(p1)
                  .add_const_input(p2)
                  .add_const_input(beta)
                  .build();
  at::native::cpu_kernel_vec(
      iter,
      [](float v, float a, float b, float c) -> float {
        const float dx = (a - b) * v;
        return dx * sigmoid(c * dx) + b * v;
      },
      [](Vec v, Vec a, Vec b, Vec c) -> Vec {
        const Vec dx = (a - b) * v;
        return at::vec::fmadd(dx, sigmoid(c * dx), b * v);
      });
  return iter.output();
}

// grad_x of one row of n elements whose parameters are scalars, and the
// row's sums of the three terms added to out[0..2].
void row_outer(const float* x, const float* g, float* gx, int64_t n,
               float p1, float p2, float beta, double* out) {
  for (int64_t start = 0; start < n; start += kFlush) {
    const int64_t stop = std::min(n, start + kFlush);
    Vec s0(0.f), s1(0.f), s2(0.f);
    for_each_vec(start, stop, [&](int64_t i, int64_t count) {
      const auto t = terms(load(x + i, count), load(g + i, count), Vec(p1),
                           Vec(p2), Vec(beta));
      store(t.gx, gx + i, count);
      // Zero-filled lanes of a partial group add zero terms (g = 0).
      s0 += t.gxh;
      s1 += t.gx_;
      s2 += t.gb;
    });
    out[0] += at::vec::vec_reduce_all<float>(std::plus<Vec>(), s0);
    out[1] += at::vec::vec_reduce_all<float>(std::plus<Vec>(), s1);
    out[2] += at::vec::vec_reduce_all<float>(std::plus<Vec>(), s2);
  }
}

std::tuple<at::Tensor, at::Tensor> acon_backward(
    const at::Tensor& x, const at::Tensor& grad, const at::Tensor& p1,
    const at::Tensor& p2, const at::Tensor& beta, bool channels_inner) {
  check_float(x, "x", 3);
  check_float(grad, "grad", 3);
  check_float(p1, "p1", 2);
  check_float(p2, "p2", 2);
  check_float(beta, "beta", 2);
  TORCH_CHECK(grad.sizes() == x.sizes(), "mmact::acon: grad and x differ "
              "in shape: ", grad.sizes(), " vs ", x.sizes());
  const int64_t N = x.size(0), M = x.size(1), K = x.size(2);
  const int64_t C = channels_inner ? K : M;
  for (const at::Tensor* p : {&p1, &p2, &beta}) {
    TORCH_CHECK(p->size(0) == N && p->size(1) == C,
                "mmact::acon: parameters must be (N, C) = (", N, ", ", C,
                "), got ", p->sizes());
  }
  const float* xp = x.data_ptr<float>();
  const float* gp = grad.data_ptr<float>();
  const float *a = p1.data_ptr<float>(), *b = p2.data_ptr<float>(),
              *c = beta.data_ptr<float>();
  at::Tensor grad_x = at::empty_like(x);
  float* gxp = grad_x.data_ptr<float>();
  if (!channels_inner) {
    at::Tensor sums = at::zeros({N, C, 3}, x.options().dtype(at::kDouble));
    double* out = sums.data_ptr<double>();
    at::parallel_for(0, N * M, rows_of(kGrain, K), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        row_outer(xp + r * K, gp + r * K, gxp + r * K, K, a[r], b[r], c[r],
                  out + 3 * r);
      }
    });
    return {grad_x, sums};
  }
  // Channels inner: tasks of `rows` rows of one sample, each summing into
  // its own float columns (flushed into float64 every kFlush / K rows) and
  // writing its own slice of `part`; the slices are added at the end.
  const int64_t rows = rows_of(kGrain, K);
  const int64_t blocks = (M + rows - 1) / rows;
  at::Tensor part =
      at::zeros({N, blocks, C, 3}, x.options().dtype(at::kDouble));
  double* out = part.data_ptr<double>();
  const int64_t flush_rows = rows_of(kFlush, K);
  at::parallel_for(0, N * blocks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> acc(3 * K);
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t n = task / blocks, m0 = (task % blocks) * rows;
      const int64_t m1 = std::min(M, m0 + rows);
      const float *pa = a + n * K, *pb = b + n * K, *pc = c + n * K;
      double* dst = out + task * C * 3;
      for (int64_t m = m0; m < m1; ++m) {
        const int64_t base = (n * M + m) * K;
        for_each_vec(0, K, [&](int64_t k, int64_t count) {
          const auto t = terms(load(xp + base + k, count),
                               load(gp + base + k, count), load(pa + k, count),
                               load(pb + k, count), load(pc + k, count));
          store(t.gx, gxp + base + k, count);
          store(load(acc.data() + k, count) + t.gxh, acc.data() + k, count);
          store(load(acc.data() + K + k, count) + t.gx_, acc.data() + K + k,
                count);
          store(load(acc.data() + 2 * K + k, count) + t.gb,
                acc.data() + 2 * K + k, count);
        });
        if ((m - m0 + 1) % flush_rows == 0 || m + 1 == m1) {
          for (int64_t k = 0; k < K; ++k) {
            for (int64_t j = 0; j < 3; ++j) {
              dst[3 * k + j] += acc[j * K + k];
              acc[j * K + k] = 0.f;
            }
          }
        }
      }
    }
  });
  return {grad_x, part.sum(1)};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def("acon_forward(Tensor x, Tensor p1, Tensor p2, Tensor beta) -> Tensor");
  m.def(
      "acon_backward(Tensor x, Tensor grad, Tensor p1, Tensor p2, Tensor beta,"
      " bool channels_inner) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("acon_forward", &acon_forward);
  m.impl("acon_backward", &acon_backward);
}

}  // namespace mmact
