// DiTAC on CPU: the op of mmact/ops/ditac.py fused into one pass per
// direction. Forward: window lookup, table lerp, Φ(x), product. Backward:
// grad_x plus the θ-histogram (upstream gradient per table bin, weights
// 1 - w and w of the lerp): a float32 copy per thread, flushed into the
// thread's float64 copy every kFlush elements; the copies summed at the end.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <vector>

#include "common.h"

namespace mmact {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

enum Variant : int64_t { kDiTAC = 0, kGE = 1, kLeaky = 2, kInf = 3 };

// The table of mmact/ops/ditac.py (LerpTable): s = (x - a) * scale, grid
// bin k = clamp(floor(s), lo, hi) + offset, q = (s - k + offset) *
// refine[k], sub-bin j = first[k] + clamp(floor(q), 0, refine[k] - 1),
// w = q - (j - first[k]), x̃ = base[j] + w * step[j].
struct Lerp {
  const float* base;
  const float* step;
  const float* first;
  const float* refine;
  double a, scale;
  float af, scalef, lo, hi;
  int32_t offset;
};

struct Located {
  Vec w, warped, rate;  // rate = dx̃/ds
  VecI idx;
};

inline Vec gather(const float* table, const VecI& idx) {
  return at::vec::gather<sizeof(float)>(table, idx);
}

inline VecD sub_bin(const VecD& x, const VecD& k, const VecD& refine,
                    const Lerp& t, VecD& w) {
  const VecD q = ((x - VecD(t.a)) * VecD(t.scale) - k) * refine;
  const VecD sub = at::vec::clamp(VecD::blendv(VecD(0.), q.floor(), q == q),
                                  VecD(0.), refine - VecD(1.));
  w = q - sub;
  return sub;
}

// The grid bin in float32 (a neighbour's serves as well: the sub-bin clamp
// absorbs it); the weight in float64, so that float32 rounding of s does
// not move x̃ where T is steep.
inline void locate(const Vec& x, const Lerp& t, Located& out) {
  const Vec s = (x - Vec(t.af)) * Vec(t.scalef);
  Vec k = Vec::blendv(Vec(0.f), s.floor(), s == s);  // NaN: any bin
  k = at::vec::clamp(k, Vec(t.lo), Vec(t.hi));
  const VecI desc = at::vec::convert_to_int_of_same_size(k) + VecI(t.offset);
  const Vec refine = gather(t.refine, desc);
  const Wide xw = widen(x), kw = widen(k), rw = widen(refine);
  VecD w_lo, w_hi;
  const VecD sub_lo = sub_bin(xw.lo, kw.lo, rw.lo, t, w_lo);
  const VecD sub_hi = sub_bin(xw.hi, kw.hi, rw.hi, t, w_hi);
  out.w = narrow(w_lo, w_hi);
  out.idx = at::vec::convert_to_int_of_same_size(gather(t.first, desc) +
                                                 narrow(sub_lo, sub_hi));
  const Vec step = gather(t.step, out.idx);
  out.warped = at::vec::fmadd(out.w, step, gather(t.base, out.idx));
  out.rate = step * refine;
}

// Φ(x) and φ(x) sharing one exp: Φ from erfc(|x| / √2) ≈ t P(t) e^(-x²/2),
// t = 1 / (1 + p |x| / √2) (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7:
// the same form as ATen's vectorised erf).
struct Normal {
  Vec cdf, pdf;
};

inline Normal normal(const Vec& x) {
  const Vec e = (x * x * Vec(-0.5f)).exp();
  const Vec z = x.abs() * Vec(kInvSqrt2);
  const Vec t = Vec(1.f) / at::vec::fmadd(Vec(0.3275911f), z, Vec(1.f));
  Vec poly = at::vec::fmadd(Vec(1.061405429f), t, Vec(-1.453152027f));
  poly = at::vec::fmadd(poly, t, Vec(1.421413741f));
  poly = at::vec::fmadd(poly, t, Vec(-0.284496736f));
  poly = at::vec::fmadd(poly, t, Vec(0.254829592f));
  const Vec tail = Vec(0.5f) * poly * t * e;  // Φ(-|x|)
  return {Vec::blendv(tail, Vec(1.f) - tail, x >= Vec(0.f)),
          e * Vec(kInvSqrt2Pi)};
}

// y = x̃ m(x, x̃) and dm/dx, per variant.
template <int64_t V>
inline Vec multiplier(const Vec& x, const Vec& warped, float slope,
                      Vec* grad = nullptr) {
  if constexpr (V == kDiTAC || V == kGE) {
    const Normal nd = normal(x);
    if constexpr (V == kDiTAC) {
      if (grad) *grad = nd.pdf;
      return nd.cdf;
    } else {
      const Vec neg = x < Vec(0.f);
      if (grad) *grad = Vec::blendv(Vec(0.f), nd.pdf, neg);
      return Vec::blendv(Vec(1.f), nd.cdf, neg);
    }
  } else if constexpr (V == kLeaky) {
    return Vec::blendv(Vec(slope), Vec(1.f), warped >= Vec(0.f));
  } else {
    return Vec(1.f);
  }
}

template <int64_t V>
constexpr bool kHasMultiplierGrad = V == kDiTAC || V == kGE;

template <int64_t V>
void forward_kernel(const float* x, float* y, int64_t n, const Lerp& t,
                    float slope) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    Located loc;
    for_each_vec(begin, end, [&](int64_t i, int64_t count) {
      const Vec xv = load(x + i, count);
      locate(xv, t, loc);
      store(loc.warped * multiplier<V>(xv, loc.warped, slope), y + i, count);
    });
  });
}

// Elements per float32 histogram before it is flushed into the thread's
// float64 one: the float32 copy stays in L1 and keeps few terms per sum.
constexpr int64_t kFlush = 1 << 16;

template <int64_t V>
void backward_kernel(const float* x, const float* g, float* gx,
                     double* hist, int64_t bins, int64_t n, const Lerp& t,
                     float slope) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    double* total = hist + at::get_thread_num() * bins * 2;
    std::vector<float> h(bins * 2);
    Located loc;
    alignas(32) float e_lanes[kLanes], ew_lanes[kLanes];
    alignas(32) int32_t idx[kLanes];
    for (int64_t block = begin; block < end; block += kFlush) {
      std::fill(h.begin(), h.end(), 0.f);
      for_each_vec(block, std::min(end, block + kFlush),
                   [&](int64_t i, int64_t count) {
        const Vec xv = load(x + i, count), gv = load(g + i, count);
        locate(xv, t, loc);
        Vec dm;
        const Vec e = gv * multiplier<V>(xv, loc.warped, slope, &dm);
        Vec d = loc.rate * Vec(t.scalef) * e;
        if constexpr (kHasMultiplierGrad<V>) {
          d = at::vec::fmadd(loc.warped * dm, gv, d);
        }
        store(d, gx + i, count);
        e.store(e_lanes);
        (e * loc.w).store(ew_lanes);
        loc.idx.store(idx);
        for (int64_t j = 0; j < count; ++j) {
          h[2 * idx[j]] += e_lanes[j];
          h[2 * idx[j] + 1] += ew_lanes[j];
        }
      });
      for (int64_t k = 0; k < bins * 2; ++k) total[k] += h[k];
    }
  });
}

template <typename F>
void dispatch_variant(int64_t variant, const F& f) {
  dispatch<kDiTAC, kGE, kLeaky, kInf>(
      variant, "mmact::ditac: unknown variant code", f);
}

// Element-wise over storage order: any dense layout (contiguous,
// channels-last, ...) runs without a copy; outputs keep x's strides.
void check_dense_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat &&
                  t.is_non_overlapping_and_dense(),
              "mmact::ditac: ", name,
              " must be a dense float32 CPU tensor");
}

Lerp make_lerp(const at::Tensor& base, const at::Tensor& step,
               const at::Tensor& first, const at::Tensor& refine, double a,
               double scale, int64_t lo, int64_t hi, int64_t offset) {
  for (const auto& [t, name] : {std::pair{&base, "base"}, {&step, "step"},
                                {&first, "first"}, {&refine, "refine"}}) {
    TORCH_CHECK(t->is_contiguous(), "mmact::ditac: ", name,
                " must be contiguous");
    check_dense_float(*t, name);
  }
  TORCH_CHECK(base.numel() == step.numel() && first.numel() ==
                  refine.numel() && lo + offset >= 0 &&
                  hi + offset < first.numel(),
              "mmact::ditac: bins [lo, hi] + offset outside the table");
  // Every sub-bin a lookup can reach lies in base and step.
  const float* f = first.data_ptr<float>();
  const float* r = refine.data_ptr<float>();
  for (int64_t k = lo + offset; k <= hi + offset; ++k) {
    TORCH_CHECK(f[k] >= 0 && r[k] >= 1 && f[k] + r[k] <= base.numel(),
                "mmact::ditac: sub-bins of bin ", k, " outside the table");
  }
  return {base.data_ptr<float>(),
          step.data_ptr<float>(),
          f,
          r,
          a,
          scale,
          static_cast<float>(a),
          static_cast<float>(scale),
          static_cast<float>(lo),
          static_cast<float>(hi),
          static_cast<int32_t>(offset)};
}

at::Tensor ditac_forward(const at::Tensor& x, const at::Tensor& base,
                         const at::Tensor& step, const at::Tensor& first,
                         const at::Tensor& refine, double a, double scale,
                         int64_t lo, int64_t hi, int64_t offset,
                         int64_t variant, double slope) {
  check_dense_float(x, "x");
  const Lerp t = make_lerp(base, step, first, refine, a, scale, lo, hi,
                           offset);
  at::Tensor y = at::empty_like(x);
  dispatch_variant(variant, [&](auto v) {
    forward_kernel<decltype(v)::value>(x.data_ptr<float>(),
                                       y.data_ptr<float>(), x.numel(), t,
                                       static_cast<float>(slope));
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor> ditac_backward(
    const at::Tensor& x, const at::Tensor& grad, const at::Tensor& base,
    const at::Tensor& step, const at::Tensor& first, const at::Tensor& refine,
    double a, double scale, int64_t lo, int64_t hi, int64_t offset,
    int64_t variant, double slope) {
  check_dense_float(x, "x");
  check_dense_float(grad, "grad");
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.strides() == x.strides(),
              "mmact::ditac: grad and x differ in shape or layout");
  const Lerp t = make_lerp(base, step, first, refine, a, scale, lo, hi,
                           offset);
  const int64_t bins = base.numel();
  at::Tensor grad_x = at::empty_like(x);
  at::Tensor hist = at::zeros({at::get_num_threads(), bins, 2},
                              x.options().dtype(at::kDouble));
  dispatch_variant(variant, [&](auto v) {
    backward_kernel<decltype(v)::value>(
        x.data_ptr<float>(), grad.data_ptr<float>(), grad_x.data_ptr<float>(),
        hist.data_ptr<double>(), bins, x.numel(), t,
        static_cast<float>(slope));
  });
  return {grad_x, hist.sum(0)};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def(
      "ditac_forward(Tensor x, Tensor base, Tensor step, Tensor first, "
      "Tensor refine, float a, float scale, int lo, int hi, int offset, "
      "int variant, float slope) -> Tensor");
  m.def(
      "ditac_backward(Tensor x, Tensor grad, Tensor base, Tensor step, "
      "Tensor first, Tensor refine, float a, float scale, int lo, int hi, "
      "int offset, int variant, float slope) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("ditac_forward", &ditac_forward);
  m.impl("ditac_backward", &ditac_backward);
}

}  // namespace mmact
