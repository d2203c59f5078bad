// LayerAct on CPU: the passes of mmact/ops/layeract.py fused. Statistics:
// mean and 1/std per row, each column block two passes while in cache (its
// mean, then Σ(x - block mean)²), the blocks merged in float64 (Chan et
// al.); torch.var_mean takes ~7x as long on these rows. Forward:
// y = x s(n), n = (x - mean) rstd. Backward: one pass reducing Σq and Σq·n
// per row (q = g x s'(n)), one pass writing
// dx = g s(n) + rstd (q - Σq / D - n Σq·n / c).
// Work is split into (row, block of columns) tasks so that a batch of one
// still uses every thread.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "common.h"

namespace mmact {
namespace {

enum Kind : int64_t { kSiLU = 0, kHardSiLU = 1 };

// Column blocks of each row: task -> (row, [begin, end) of columns).
struct Tasks {
  int64_t rows, cols, per_row;
  Tasks(int64_t r, int64_t d)
      : rows(r), cols(d), per_row(d ? (d + kGrain - 1) / kGrain : 0) {}
  int64_t size() const { return rows * per_row; }
  int64_t row(int64_t task) const { return task / per_row; }
  int64_t begin(int64_t task) const { return (task % per_row) * kGrain; }
  int64_t end(int64_t task) const {
    return std::min(cols, begin(task) + kGrain);
  }
};

template <int64_t K>
inline Vec scale(const Vec& n) {
  if constexpr (K == kSiLU) {
    return Vec(1.f) / (Vec(1.f) + n.neg().exp());
  } else {
    return at::vec::clamp(n * Vec(1.f / 6.f) + Vec(0.5f), Vec(0.f), Vec(1.f));
  }
}

template <int64_t K>
inline Vec scale_grad(const Vec& n, const Vec& s) {
  if constexpr (K == kSiLU) {
    return s - s * s;
  } else {
    return Vec::blendv(Vec(0.f), Vec(1.f / 6.f),
                       (n > Vec(-3.f)) & (n < Vec(3.f)));
  }
}

// Sums float lanes, flushed into a float64 total every 256 vectors so that
// long rows keep their precision.
struct LaneSum {
  Vec lanes{0.f};
  double total = 0.0;
  int64_t pending = 0;
  void add(const Vec& v) {
    lanes = lanes + v;
    if (++pending == 256) flush();
  }
  double flush() {
    alignas(64) float a[kLanes];
    lanes.store(a);
    for (int64_t j = 0; j < kLanes; ++j) total += a[j];
    lanes = Vec(0.f);
    pending = 0;
    return total;
  }
};

void statistics_kernel(const float* x, float* mean, float* rstd,
                       double alpha, int64_t correction, const Tasks& tasks) {
  std::vector<double> block_mean(tasks.size()), block_m2(tasks.size());
  at::parallel_for(0, tasks.size(), 1, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const float* row = x + tasks.row(task) * tasks.cols;
      const int64_t begin = tasks.begin(task), end = tasks.end(task);
      LaneSum sum, m2;
      for_each_vec(begin, end, [&](int64_t i, int64_t count) {
        sum.add(load(row + i, count));
      });
      const double mu = sum.flush() / (end - begin);
      const Vec muv(static_cast<float>(mu));
      for_each_vec(begin, end, [&](int64_t i, int64_t count) {
        // Tail lanes are zero-filled: mask their (0 - mu)² out.
        const Vec d = Vec::set(Vec(0.f), load(row + i, count) - muv, count);
        m2.add(d * d);
      });
      block_mean[task] = mu;
      block_m2[task] = m2.flush();
    }
  });
  for (int64_t r = 0; r < tasks.rows; ++r) {
    double mu = 0.0, m2 = 0.0;
    for (int64_t j = 0; j < tasks.per_row; ++j) {
      const int64_t task = r * tasks.per_row + j;
      mu += block_mean[task] * (tasks.end(task) - tasks.begin(task));
    }
    mu /= tasks.cols;
    for (int64_t j = 0; j < tasks.per_row; ++j) {
      const int64_t task = r * tasks.per_row + j;
      const double n = tasks.end(task) - tasks.begin(task);
      const double shift = block_mean[task] - mu;
      m2 += block_m2[task] + n * shift * shift;
    }
    const double var = tasks.cols
        ? m2 / static_cast<double>(tasks.cols - correction) : NAN;
    mean[r] = static_cast<float>(mu);
    rstd[r] = static_cast<float>(1.0 / std::sqrt(var + alpha));
  }
}

template <int64_t K>
void forward_kernel(const float* x, float* y, const float* mean,
                    const float* rstd, const Tasks& tasks) {
  at::parallel_for(0, tasks.size(), 1, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t r = tasks.row(task), off = r * tasks.cols;
      const Vec mu(mean[r]), rs(rstd[r]);
      for_each_vec(tasks.begin(task), tasks.end(task),
                   [&](int64_t i, int64_t count) {
                     const Vec xv = load(x + off + i, count);
                     store(xv * scale<K>((xv - mu) * rs), y + off + i, count);
                   });
    }
  });
}

template <int64_t K>
void backward_kernel(const float* x, const float* g, float* dx,
                     const float* mean, const float* rstd, float c,
                     const Tasks& tasks) {
  // Pass 1: per-task partial sums, flushed from float lanes into float64
  // every few hundred vectors so long rows keep their precision.
  std::vector<double> partial(tasks.size() * 2, 0.0);
  at::parallel_for(0, tasks.size(), 1, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t r = tasks.row(task), off = r * tasks.cols;
      const Vec mu(mean[r]), rs(rstd[r]);
      Vec sq(0.f), sqn(0.f);
      int64_t pending = 0;
      auto flush = [&]() {
        alignas(32) float a[kLanes], b[kLanes];
        sq.store(a);
        sqn.store(b);
        for (int64_t j = 0; j < kLanes; ++j) {
          partial[2 * task] += a[j];
          partial[2 * task + 1] += b[j];
        }
        sq = sqn = Vec(0.f);
        pending = 0;
      };
      for_each_vec(tasks.begin(task), tasks.end(task),
                   [&](int64_t i, int64_t count) {
                     const Vec xv = load(x + off + i, count);
                     const Vec gv = load(g + off + i, count);
                     const Vec n = (xv - mu) * rs;
                     const Vec q = gv * xv * scale_grad<K>(n, scale<K>(n));
                     sq = sq + q;  // zero-filled tail lanes add q = 0
                     sqn = at::vec::fmadd(q, n, sqn);
                     if (++pending == 256) flush();
                   });
      flush();
    }
  });
  std::vector<float> mean_q(tasks.rows), qn(tasks.rows);
  for (int64_t r = 0; r < tasks.rows; ++r) {
    double sq = 0, sqn = 0;
    for (int64_t j = 0; j < tasks.per_row; ++j) {
      sq += partial[2 * (r * tasks.per_row + j)];
      sqn += partial[2 * (r * tasks.per_row + j) + 1];
    }
    mean_q[r] = static_cast<float>(sq / tasks.cols);
    qn[r] = static_cast<float>(sqn / c);
  }
  // Pass 2: dx.
  at::parallel_for(0, tasks.size(), 1, [&](int64_t first, int64_t last) {
    for (int64_t task = first; task < last; ++task) {
      const int64_t r = tasks.row(task), off = r * tasks.cols;
      const Vec mu(mean[r]), rs(rstd[r]), mq(mean_q[r]), qnr(qn[r]);
      for_each_vec(tasks.begin(task), tasks.end(task),
                   [&](int64_t i, int64_t count) {
                     const Vec xv = load(x + off + i, count);
                     const Vec gv = load(g + off + i, count);
                     const Vec n = (xv - mu) * rs;
                     const Vec s = scale<K>(n);
                     const Vec q = gv * xv * scale_grad<K>(n, s);
                     const Vec d = at::vec::fmadd(
                         rs, q - mq - n * qnr, gv * s);
                     store(d, dx + off + i, count);
                   });
    }
  });
}

template <typename F>
void dispatch_kind(int64_t kind, const F& f) {
  dispatch<kSiLU, kHardSiLU>(kind, "mmact::layeract: unknown kind code", f);
}

void check_inputs(const at::Tensor& rows, const at::Tensor& mean,
                  const at::Tensor& rstd) {
  check_cpu(rows, "layeract", "rows", at::kFloat, 2);
  check_cpu(mean, "layeract", "mean", at::kFloat, 1);
  check_cpu(rstd, "layeract", "rstd", at::kFloat, 1);
  TORCH_CHECK(mean.numel() == rows.size(0) && rstd.numel() == rows.size(0),
              "mmact::layeract: one mean and rstd per row expected");
}

std::tuple<at::Tensor, at::Tensor> layeract_statistics(
    const at::Tensor& rows, double alpha, bool unbiased) {
  check_cpu(rows, "layeract", "rows", at::kFloat, 2);
  at::Tensor mean = at::empty({rows.size(0)}, rows.options());
  at::Tensor rstd = at::empty_like(mean);
  statistics_kernel(rows.data_ptr<float>(), mean.data_ptr<float>(),
                    rstd.data_ptr<float>(), alpha, unbiased ? 1 : 0,
                    Tasks(rows.size(0), rows.size(1)));
  return {mean, rstd};
}

at::Tensor layeract_forward(const at::Tensor& rows, const at::Tensor& mean,
                            const at::Tensor& rstd, int64_t kind) {
  check_inputs(rows, mean, rstd);
  at::Tensor y = at::empty_like(rows);
  const Tasks tasks(rows.size(0), rows.size(1));
  dispatch_kind(kind, [&](auto k) {
    forward_kernel<decltype(k)::value>(
        rows.data_ptr<float>(), y.data_ptr<float>(), mean.data_ptr<float>(),
        rstd.data_ptr<float>(), tasks);
  });
  return y;
}

at::Tensor layeract_backward(const at::Tensor& rows, const at::Tensor& grad,
                             const at::Tensor& mean, const at::Tensor& rstd,
                             int64_t kind, double c) {
  check_inputs(rows, mean, rstd);
  check_cpu(grad, "layeract", "grad", at::kFloat, 2);
  TORCH_CHECK(grad.sizes() == rows.sizes(),
              "mmact::layeract: grad and rows differ in shape");
  at::Tensor dx = at::empty_like(rows);
  const Tasks tasks(rows.size(0), rows.size(1));
  dispatch_kind(kind, [&](auto k) {
    backward_kernel<decltype(k)::value>(
        rows.data_ptr<float>(), grad.data_ptr<float>(), dx.data_ptr<float>(),
        mean.data_ptr<float>(), rstd.data_ptr<float>(),
        static_cast<float>(c), tasks);
  });
  return dx;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def(
      "layeract_statistics(Tensor rows, float alpha, bool unbiased) -> "
      "(Tensor, Tensor)");
  m.def(
      "layeract_forward(Tensor rows, Tensor mean, Tensor rstd, int kind) "
      "-> Tensor");
  m.def(
      "layeract_backward(Tensor rows, Tensor grad, Tensor mean, Tensor rstd, "
      "int kind, float c) -> Tensor");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("layeract_statistics", &layeract_statistics);
  m.impl("layeract_forward", &layeract_forward);
  m.impl("layeract_backward", &layeract_backward);
}

}  // namespace mmact
