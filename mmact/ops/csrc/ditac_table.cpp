// DiTAC's lookup table on CPU (torch.ops.mmact.ditac_table): refinement(),
// table_points() and the integration of build_table() in mmact/ops/ditac.py
// in one call, with the same rules and the same points (the tests compare
// the two builds). Training rebuilds every DiTAC layer's table after each
// optimizer step: as a few dozen small tensor ops the build takes ~1 ms,
// mostly dispatch — more than the layer's own forward and backward on a
// small feature map; here 0.1-0.5 ms.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "common.h"
#include "cpab.h"

namespace mmact {
namespace {

struct Rules {
  double width, tolerance;
  int64_t max_level, capacity;
};

// The ends of the sub-bins in order, (k + r / 2^level[k]) / (G - 1) as
// _sub_bins() computes them, then u = 1.
std::vector<double> sub_bin_points(const std::vector<int32_t>& level) {
  const int64_t bins = static_cast<int64_t>(level.size());
  std::vector<double> u;
  for (int64_t k = 0; k < bins; ++k) {
    const int64_t parts = int64_t{1} << level[k];
    for (int64_t r = 0; r < parts; ++r) {
      u.push_back((static_cast<double>(k) +
                   static_cast<double>(r) / static_cast<double>(parts)) /
                  static_cast<double>(bins));
    }
  }
  u.push_back(1.0);
  return u;
}

// _raise_levels(): level plus what brings each grid bin's bound under the
// tolerance, or under a 4^i times larger one where that would exceed the
// capacity (the first i that fits; none: level unchanged).
std::vector<int32_t> raise_levels(const std::vector<int32_t>& level,
                                  const std::vector<double>& bound,
                                  const Rules& rules) {
  const size_t bins = level.size();
  std::vector<double> need(bins);
  for (size_t k = 0; k < bins; ++k) {
    need[k] = std::ceil(0.5 * std::log2(bound[k] / rules.tolerance));
  }
  std::vector<int32_t> raised(bins);
  for (int64_t fewer = 0; fewer <= rules.max_level; ++fewer) {
    int64_t sub_bins = 0;
    for (size_t k = 0; k < bins; ++k) {
      const double more = std::max(need[k] - static_cast<double>(fewer), 0.);
      raised[k] = static_cast<int32_t>(std::min(
          level[k] + more, static_cast<double>(rules.max_level)));
      sub_bins += int64_t{1} << raised[k];
    }
    if (sub_bins <= rules.capacity) return raised;
  }
  return level;
}

// The refined levels: from the error bound h |Δ dT/du| (b - a) / 4 of each
// sub-bin (its largest per grid bin), first on the grid, then `passes`
// times on the sub-bins (refinement()). A pass that changes no level has
// converged: the next would see the same points.
std::vector<int32_t> refine(const cpab::Field& field, int64_t size,
                            int64_t passes, const Rules& rules) {
  std::vector<int32_t> level(size - 1, 0);
  std::vector<double> T, grad_u, bound(size - 1);
  for (int64_t pass = 0; pass <= passes; ++pass) {
    const std::vector<double> u = sub_bin_points(level);
    const int64_t n = static_cast<int64_t>(u.size());
    T.resize(n);
    grad_u.resize(n);
    cpab::integrate_points(field, u.data(), n, 1.0, T.data(), grad_u.data(),
                           nullptr);
    std::fill(bound.begin(), bound.end(), 0.0);
    int64_t j = 0;
    for (int64_t k = 0; k < size - 1; ++k) {
      for (int64_t r = 0; r < (int64_t{1} << level[k]); ++r, ++j) {
        double est = (u[j + 1] - u[j]) * std::abs(grad_u[j + 1] - grad_u[j]) *
                     (rules.width / 4);
        est = std::isnan(est) ? 0.0 : std::min(est, 1e300);
        bound[k] = std::max(bound[k], est);
      }
    }
    std::vector<int32_t> raised = raise_levels(level, bound, rules);
    if (raised == level) break;
    level = std::move(raised);
  }
  return level;
}

// (T at the table's points (capacity + 1, the last ones padding at u = 1),
// dT/dθ there (capacity + 1 rows, or none without with_grad), the level of
// each grid bin (size - 1, int32)).
std::tuple<at::Tensor, at::Tensor, at::Tensor> ditac_table(
    const at::Tensor& A, const at::Tensor& B, int64_t size, int64_t capacity,
    double width, double tolerance, int64_t max_level, int64_t passes,
    bool with_grad) {
  check_cpu(A, "ditac_table", "A", at::kDouble, 1);
  check_cpu(B, "ditac_table", "B", at::kDouble, 2);
  const int64_t nc = A.numel() / 2, d = B.size(1);
  TORCH_CHECK(nc >= 1 && A.numel() == 2 * nc && B.size(0) == 2 * nc,
              "mmact::ditac_table: A must hold 2 nc coefficients and B 2 nc "
              "rows, got A ", A.sizes(), " and B ", B.sizes());
  TORCH_CHECK(size >= 2 && capacity >= size - 1,
              "mmact::ditac_table: size must be >= 2 and capacity >= size - "
              "1, got size ", size, " and capacity ", capacity);
  TORCH_CHECK(max_level >= 0 && max_level < 31 && passes >= 0,
              "mmact::ditac_table: max_level must be in [0, 30] and passes "
              ">= 0, got ", max_level, " and ", passes);
  TORCH_CHECK(width > 0 && tolerance > 0,
              "mmact::ditac_table: width and tolerance must be > 0, got ",
              width, " and ", tolerance);
  const cpab::Field field{A.data_ptr<double>(), B.data_ptr<double>(), nc, d};
  const std::vector<int32_t> level =
      refine(field, size, passes, {width, tolerance, max_level, capacity});
  // The padding repeats the last point (u = 1): integrated once, copied.
  const std::vector<double> u = sub_bin_points(level);
  const int64_t n = static_cast<int64_t>(u.size());
  const auto options = A.options();
  at::Tensor T = at::empty({capacity + 1}, options);
  at::Tensor grad_u = at::empty({capacity + 1}, options);
  at::Tensor J = at::empty({with_grad ? capacity + 1 : 0, d}, options);
  double* T_out = T.data_ptr<double>();
  double* J_out = with_grad ? J.data_ptr<double>() : nullptr;
  cpab::integrate_points(field, u.data(), n, 1.0, T_out,
                         grad_u.data_ptr<double>(), J_out);
  std::fill(T_out + n, T_out + capacity + 1, T_out[n - 1]);
  for (int64_t i = n; J_out && i <= capacity; ++i) {
    std::copy(J_out + (n - 1) * d, J_out + n * d, J_out + i * d);
  }
  at::Tensor levels = at::empty({size - 1}, options.dtype(at::kInt));
  std::copy(level.begin(), level.end(), levels.data_ptr<int32_t>());
  return {T, J, levels};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def(
      "ditac_table(Tensor A, Tensor B, int size, int capacity, float width, "
      "float tolerance, int max_level, int passes, bool with_grad) -> "
      "(Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) { m.impl("ditac_table", &ditac_table); }

}  // namespace mmact
