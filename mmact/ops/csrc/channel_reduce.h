// Backward of an element-wise op with per-channel (and optionally
// per-sample) parameters, shared by ACON-C, PDELU and PReLU: one pass over
// x and grad viewed as (N, M, K) that writes grad_x and sums S per-element
// terms per sample and channel (the parameter gradients, before the sums
// over samples that parameters without a batch dimension still need). The
// channel is either outer (index m: NCHW, rows of K elements share their
// parameters) or inner (index k: channels-last and token layouts,
// parameters loaded as vectors along the row).
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <vector>

#include "common.h"

namespace mmact {

// Float partial sums are flushed into float64 after this many elements.
constexpr int64_t kFlush = 4096;

// How many rows of k elements make up `elements` (at least one).
inline int64_t rows_of(int64_t elements, int64_t k) {
  return std::max<int64_t>(1, elements / std::max<int64_t>(k, 1));
}

// The (N, C) parameters of channel_forward / channel_backward: checked
// against x viewed as (N, M, K).
template <size_t P>
std::array<const float*, P> channel_params(
    const char* name, const at::Tensor& x,
    const std::array<at::Tensor, P>& params, bool channels_inner) {
  const int64_t N = x.size(0);
  const int64_t C = channels_inner ? x.size(2) : x.size(1);
  std::array<const float*, P> p;
  for (size_t j = 0; j < P; ++j) {
    check_cpu(params[j], name, "parameters", at::kFloat, 2);
    TORCH_CHECK(params[j].size(0) == N && params[j].size(1) == C,
                "mmact::", name, ": parameters must be (N, C) = (", N, ", ",
                C, "), got ", params[j].sizes());
    p[j] = params[j].template data_ptr<float>();
  }
  return p;
}

// y = op(x, params) on lanes over x viewed as (N, M, K): the parameters of
// a row broadcast (channel outer) or loaded along it (channel inner).
template <size_t P, typename Op>
at::Tensor channel_forward(const char* name, const at::Tensor& x,
                           const std::array<at::Tensor, P>& params,
                           bool channels_inner, const Op& op) {
  check_cpu(x, name, "x", at::kFloat, 3);
  const auto p = channel_params(name, x, params, channels_inner);
  const int64_t M = x.size(1), K = x.size(2);
  const float* xp = x.data_ptr<float>();
  at::Tensor y = at::empty_like(x);
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, x.size(0) * M, rows_of(kGrain, K), [&](int64_t r0,
                                                             int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      std::array<Vec, P> pv;
      for (size_t j = 0; j < P; ++j) pv[j] = Vec(p[j][r]);
      const float* pr[P];
      for (size_t j = 0; j < P; ++j) pr[j] = p[j] + (r / M) * K;
      for_each_vec(0, K, [&](int64_t k, int64_t count) {
        if (channels_inner) {
          for (size_t j = 0; j < P; ++j) pv[j] = load(pr[j] + k, count);
        }
        store(op(load(xp + r * K + k, count), pv), yp + r * K + k, count);
      });
    }
  });
  return y;
}

// op(x, g, params, grad_x, terms) on lanes; zero-filled lanes of a partial
// group (x = g = 0, parameters 0) must give zero terms.
template <size_t P, size_t S, typename Op>
std::tuple<at::Tensor, at::Tensor> channel_backward(
    const char* name, const at::Tensor& x, const at::Tensor& grad,
    const std::array<at::Tensor, P>& params, bool channels_inner,
    const Op& op) {
  check_cpu(x, name, "x", at::kFloat, 3);
  check_cpu(grad, name, "grad", at::kFloat, 3);
  TORCH_CHECK(grad.sizes() == x.sizes(), "mmact::", name,
              ": grad and x differ in shape: ", grad.sizes(), " vs ",
              x.sizes());
  const int64_t N = x.size(0), M = x.size(1), K = x.size(2);
  const int64_t C = channels_inner ? K : M;
  const auto p = channel_params(name, x, params, channels_inner);
  const float* xp = x.data_ptr<float>();
  const float* gp = grad.data_ptr<float>();
  at::Tensor grad_x = at::empty_like(x);
  float* gxp = grad_x.data_ptr<float>();
  const auto dbl = x.options().dtype(at::kDouble);
  if (!channels_inner) {
    at::Tensor sums = at::zeros({N, C, static_cast<int64_t>(S)}, dbl);
    double* out = sums.data_ptr<double>();
    at::parallel_for(0, N * M, rows_of(kGrain, K), [&](int64_t r0,
                                                       int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        std::array<Vec, P> pv;
        for (size_t j = 0; j < P; ++j) pv[j] = Vec(p[j][r]);
        const float* xr = xp + r * K;
        const float* gr = gp + r * K;
        float* gxr = gxp + r * K;
        for (int64_t start = 0; start < K; start += kFlush) {
          std::array<Vec, S> acc;
          acc.fill(Vec(0.f));
          for_each_vec(start, std::min(K, start + kFlush),
                       [&](int64_t i, int64_t count) {
                         Vec gx;
                         std::array<Vec, S> t;
                         op(load(xr + i, count), load(gr + i, count), pv, gx,
                            t);
                         store(gx, gxr + i, count);
                         for (size_t s = 0; s < S; ++s) acc[s] += t[s];
                       });
          for (size_t s = 0; s < S; ++s) {
            out[S * r + s] +=
                at::vec::vec_reduce_all<float>(std::plus<Vec>(), acc[s]);
          }
        }
      }
    });
    return {grad_x, sums};
  }
  // Tasks of `rows` rows of one sample, each summing into its own float
  // columns (flushed into float64 every kFlush / K rows) and writing its
  // own slice of `part`; the slices are added at the end.
  const int64_t rows = rows_of(kGrain, K);
  const int64_t blocks = (M + rows - 1) / rows;
  at::Tensor part =
      at::zeros({N, blocks, C, static_cast<int64_t>(S)}, dbl);
  double* out = part.data_ptr<double>();
  const int64_t flush_rows = rows_of(kFlush, K);
  at::parallel_for(0, N * blocks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> acc(S * K);
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t n = task / blocks, m0 = (task % blocks) * rows;
      const int64_t m1 = std::min(M, m0 + rows);
      double* dst = out + task * C * S;
      for (int64_t m = m0; m < m1; ++m) {
        const int64_t base = (n * M + m) * K;
        for_each_vec(0, K, [&](int64_t k, int64_t count) {
          std::array<Vec, P> pv;
          for (size_t j = 0; j < P; ++j) pv[j] = load(p[j] + n * K + k, count);
          Vec gx;
          std::array<Vec, S> t;
          op(load(xp + base + k, count), load(gp + base + k, count), pv, gx,
             t);
          store(gx, gxp + base + k, count);
          for (size_t s = 0; s < S; ++s) {
            float* a = acc.data() + s * K + k;
            store(load(a, count) + t[s], a, count);
          }
        });
        if ((m - m0 + 1) % flush_rows == 0 || m + 1 == m1) {
          for (int64_t k = 0; k < K; ++k) {
            for (size_t s = 0; s < S; ++s) {
              dst[S * k + s] += acc[s * K + k];
              acc[s * K + k] = 0.f;
            }
          }
        }
      }
    }
  });
  return {grad_x, part.sum(1)};
}

}  // namespace mmact
