// CPAB integration of one point in float64: T_θ(u), dT/du and dT/dθ in
// closed form with cell hopping, the math of integrate() in
// mmact/functional/cpab.py. Used by the integration op (cpab.cpp) and by
// DiTAC's table build (ditac_table.cpp).
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace mmact {
namespace cpab {

// Series below this magnitude, as mmact.functional.cpab.SERIES_EPS.
constexpr double kSeriesEps = 1e-3;

inline double phi1(double z) {  // expm1(z) / z
  return std::abs(z) < kSeriesEps ? 1 + z / 2 + z * z / 6 + z * z * z / 24
                                  : std::expm1(z) / z;
}

inline double dphi1(double z) {  // d/dz phi1(z)
  return std::abs(z) < kSeriesEps
             ? 0.5 + z / 3 + z * z / 8 + z * z * z / 30
             : (z * std::exp(z) - std::expm1(z)) / (z * z);
}

inline double log1p_over(double w) {  // log1p(w) / w
  return std::abs(w) < kSeriesEps ? 1 - w / 2 + w * w / 3 - w * w * w / 4
                                  : std::log1p(w) / w;
}

inline double g_series(double w) {  // (w / (1 + w) - log1p(w)) / w^2
  return std::abs(w) < kSeriesEps
             ? -0.5 + 2 * w / 3 - 0.75 * w * w + 0.8 * w * w * w
             : (w / (1 + w) - std::log1p(w)) / (w * w);
}

// Cell of a point; outside Ω the edge cells, NaN cell 0 (the result is NaN).
inline int64_t cell_of(double u, int64_t nc) {
  const double f = std::floor(u * nc);
  if (!(f >= 0)) return 0;
  return f > nc - 1 ? nc - 1 : static_cast<int64_t>(f);
}

struct Field {
  const double* A;  // [a_0, b_0, a_1, b_1, ...]
  const double* B;  // (2 nc, d): rows 2c and 2c + 1 are da_c/dθ, db_c/dθ
  int64_t nc, d;
};

// T, dT/du and (when J is set) the row dT/dθ of one point; dtau is the
// caller's scratch of d doubles.
inline void integrate_point(const Field& f, double u, double t, double* T,
                            double* grad_u, double* J, double* dtau) {
  const int64_t nc = f.nc, d = f.d;
  double x = u, tau = t;
  int64_t c = cell_of(u, nc);
  const double v_start = f.A[2 * c] * u + f.A[2 * c + 1];
  bool hopped = false;
  if (J) std::fill(dtau, dtau + d, 0.0);
  for (int64_t hop = 0; hop <= nc; ++hop) {
    const double a = f.A[2 * c], b = f.A[2 * c + 1];
    const double v = a * x + b;
    const bool right = v > 0;
    const double exit_x = static_cast<double>(c + (right ? 1 : 0)) / nc;
    const double v_exit = a * exit_x + b;
    const bool boundary = right ? c == nc - 1 : c == 0;
    // Stays in the cell: later passes of the reference change nothing.
    if (!(v != 0 && v * v_exit > 0) || boundary) break;
    const double delta = exit_x - x;
    const double w = a * delta / v;
    const double t_hit = delta / v * log1p_over(w);
    if (!(t_hit < tau)) break;
    if (J) {
      const double dt_db = -delta / (v * v_exit);
      const double dt_da =
          (delta / v) * (delta / v) * g_series(w) - delta * x / (v * v_exit);
      const double* alpha = f.B + 2 * c * d;
      const double* beta = alpha + d;
      for (int64_t j = 0; j < d; ++j) {
        dtau[j] -= dt_da * alpha[j] + dt_db * beta[j];
      }
    }
    tau -= t_hit;
    x = exit_x;
    c += right ? 1 : -1;
    hopped = true;
  }
  const double a = f.A[2 * c], b = f.A[2 * c + 1];
  const double z = tau * a, p = phi1(z);
  const double end = x + tau * (a * x + b) * p;
  const double v_end = a * end + b;  // the flow stopped inside cell c
  *T = end;
  *grad_u = hopped ? v_end / v_start : std::exp(z);
  if (J) {
    const double dpsi_db = tau * p;
    const double dpsi_da = tau * x * p + tau * tau * (a * x + b) * dphi1(z);
    const double* alpha = f.B + 2 * c * d;
    const double* beta = alpha + d;
    for (int64_t j = 0; j < d; ++j) {
      J[j] = dpsi_da * alpha[j] + dpsi_db * beta[j] + v_end * dtau[j];
    }
  }
}

// integrate_point for the n points u, in parallel: T and grad_u (n each),
// J (n x d) unless null.
inline void integrate_points(const Field& f, const double* u, int64_t n,
                             double t, double* T, double* grad_u, double* J) {
  at::parallel_for(0, n, 512, [&](int64_t begin, int64_t end) {
    std::vector<double> dtau(f.d);
    for (int64_t i = begin; i < end; ++i) {
      integrate_point(f, u[i], t, T + i, grad_u + i,
                      J ? J + i * f.d : nullptr, dtau.data());
    }
  });
}

}  // namespace cpab
}  // namespace mmact
