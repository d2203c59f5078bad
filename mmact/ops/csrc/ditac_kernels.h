// DiTAC's CPU kernels: the op of mmact/ops/ditac.py fused into one pass
// per direction. Forward: window lookup, table lerp, Φ(x), product.
// Backward: grad_x plus the θ-histogram (upstream gradient per sub-bin,
// weights 1 - w and w of the lerp): a float32 copy per thread, flushed into
// the thread's float64 copy every kFlush elements; the copies summed at the
// end. Compiled once per instruction set, each into the CPU_CAPABILITY
// namespace of its translation unit: ditac.cpp (AVX2) and avx512/ditac.cpp.
#pragma once

#include <vector>

#include "common.h"

namespace mmact {

enum DiTACVariant : int64_t { kDiTAC = 0, kGE = 1, kLeaky = 2, kInf = 3 };

// The table of mmact/ops/ditac.py (LerpTable), packed for two gathers per
// lookup: s = (x - a) * scale; grid bin k = clamp(floor(s), lo, hi) +
// offset; desc[k] = first[k] * 16 + level[k]; q = (s - k + offset) *
// 2^level[k]; sub-bin j = first[k] + clamp(floor(q), 0, 2^level[k] - 1);
// w = q - (j - first[k]); (base[j], step[j]) = pairs[j]; x̃ = base[j] +
// w * step[j].
//
// s - k needs more than float32: where T is steep (dT/du ~ 200), rounding
// s to float32 (1e-4 near s = 2047) would move x̃ by 1e-5. So
// s = x scale + c with scale = sc_hi + sc_lo and c = -a scale =
// c_hi + c_lo, c_hi on a grid coarse enough that c_hi - k is exact, and
// s - k = (x sc_hi + (c_hi - k)) + (fma error of x sc_hi + c_lo +
// x sc_lo): the first sum is exact (Sterbenz), the rest small.
struct Lerp {
  const float* pairs;
  const int32_t* desc;
  float sc_hi, sc_lo, c_hi, c_lo, lo, hi;
  int32_t offset;
};

inline namespace CPU_CAPABILITY {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

struct Located {
  Vec w, warped, rate;  // rate = dx̃/ds
  VecI idx;
};

// (first, 2^level) of the grid bins idx: one gather of desc.
inline void descriptors(const int32_t* desc, const VecI& idx, Vec& first,
                        Vec& refine) {
#if defined(CPU_CAPABILITY_AVX512)
  const __m512i d = _mm512_i32gather_epi32(__m512i(idx), desc, 4);
  first = Vec(_mm512_cvtepi32_ps(_mm512_srli_epi32(d, 4)));
  refine = Vec(_mm512_cvtepi32_ps(_mm512_sllv_epi32(
      _mm512_set1_epi32(1), _mm512_and_si512(d, _mm512_set1_epi32(15)))));
#else
  const __m256i d =
      _mm256_i32gather_epi32(reinterpret_cast<const int*>(desc), idx, 4);
  first = Vec(_mm256_cvtepi32_ps(_mm256_srli_epi32(d, 4)));
  refine = Vec(_mm256_cvtepi32_ps(_mm256_sllv_epi32(
      _mm256_set1_epi32(1), _mm256_and_si256(d, _mm256_set1_epi32(15)))));
#endif
}

// (base, step) of the sub-bins idx: 64-bit gathers of the pairs (half the
// element loads of two float gathers), then split into evens and odds.
inline void pairs_at(const float* pairs, const VecI& idx, Vec& base,
                     Vec& step) {
  const double* p = reinterpret_cast<const double*>(pairs);
#if defined(CPU_CAPABILITY_AVX512)
  const __m512i i = idx;
  const __m512 lo = _mm512_castpd_ps(
      _mm512_i32gather_pd(_mm512_castsi512_si256(i), p, 8));
  const __m512 hi = _mm512_castpd_ps(
      _mm512_i32gather_pd(_mm512_extracti32x8_epi32(i, 1), p, 8));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18,
                                         20, 22, 24, 26, 28, 30);
  base = Vec(_mm512_permutex2var_ps(lo, even, hi));
  step = Vec(_mm512_permutex2var_ps(
      lo, _mm512_add_epi32(even, _mm512_set1_epi32(1)), hi));
#else
  const __m256i i = idx;
  const __m256 lo =
      _mm256_castpd_ps(_mm256_i32gather_pd(p, _mm256_castsi256_si128(i), 8));
  const __m256 hi = _mm256_castpd_ps(
      _mm256_i32gather_pd(p, _mm256_extracti128_si256(i, 1), 8));
  // Per 128-bit lane: evens (odds) of lo then of hi; then the 64-bit
  // quarters back in order.
  base = Vec(_mm256_castpd_ps(_mm256_permute4x64_pd(
      _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8)));
  step = Vec(_mm256_castpd_ps(_mm256_permute4x64_pd(
      _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8)));
#endif
}

// min(max(v, lo), hi), NaN -> lo: x86 max returns its second operand
// when the first is NaN.
inline Vec clamp_nan_low(const Vec& v, const Vec& lo, const Vec& hi) {
#if defined(CPU_CAPABILITY_AVX512)
  return Vec(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
#else
  return Vec(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
#endif
}

// 1 / d to float32 precision: the hardware estimate and one Newton step
// (a fraction of a division's time).
inline Vec reciprocal(const Vec& d) {
#if defined(CPU_CAPABILITY_AVX512)
  const Vec r(_mm512_rcp14_ps(d));
#else
  const Vec r(_mm256_rcp_ps(d));
#endif
  return r * at::vec::fnmadd(d, r, Vec(2.f));
}

inline void locate(const Vec& x, const Lerp& t, Located& out) {
  const Vec p = x * Vec(t.sc_hi);
  Vec small = at::vec::fmadd(
      x, Vec(t.sc_lo), at::vec::fmsub(x, Vec(t.sc_hi), p) + Vec(t.c_lo));
  small = Vec::blendv(Vec(0.f), small, (x - x) == Vec(0.f));  // ±inf, NaN
  // The grid bin from s rounded to float32: next to a bin edge it may be
  // the neighbour's (s - k a hair outside [0, 1), absorbed by the sub-bin
  // clamp); ops/ditac.py picks it the same way.
  const Vec k =
      clamp_nan_low((p + Vec(t.c_hi)).floor(), Vec(t.lo), Vec(t.hi));
  const Vec s_k = (p + (Vec(t.c_hi) - k)) + small;
  const Vec one(1.f);
  Vec first, refine;
  descriptors(t.desc, at::vec::convert_to_int_of_same_size(k) + VecI(t.offset),
              first, refine);
  const Vec q = s_k * refine;
  const Vec sub = clamp_nan_low(q.floor(), Vec(0.f), refine - one);
  out.w = q - sub;
  out.idx = at::vec::convert_to_int_of_same_size(first + sub);
  Vec base, step;
  pairs_at(t.pairs, out.idx, base, step);
  out.warped = at::vec::fmadd(out.w, step, base);
  out.rate = step * refine;
}

// Φ(x) and φ(x) sharing one exp: Φ from erfc(|x| / √2) ≈ t P(t) e^(-x²/2),
// t = 1 / (1 + p |x| / √2) (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7:
// the same form as ATen's vectorised erf).
struct Normal {
  Vec cdf, pdf;
};

inline Normal normal(const Vec& x) {
  const Vec e = (x * x * Vec(-0.5f)).exp_u20();
  const Vec z = x.abs() * Vec(kInvSqrt2);
  // Capped: the Newton step would turn 1 / inf into NaN (x = ±inf).
  const Vec t = reciprocal(at::vec::minimum(
      at::vec::fmadd(Vec(0.3275911f), z, Vec(1.f)), Vec(1e30f)));
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
    alignas(64) float terms[2 * kLanes];  // (e, e w) per lane
    alignas(64) int32_t idx[kLanes];
    for (int64_t block = begin; block < end; block += kFlush) {
      std::fill(h.begin(), h.end(), 0.f);
      for_each_vec(block, std::min(end, block + kFlush),
                   [&](int64_t i, int64_t count) {
        const Vec xv = load(x + i, count), gv = load(g + i, count);
        locate(xv, t, loc);
        Vec dm;
        const Vec e = gv * multiplier<V>(xv, loc.warped, slope, &dm);
        Vec d = loc.rate * Vec(t.sc_hi) * e;
        if constexpr (kHasMultiplierGrad<V>) {
          d = at::vec::fmadd(loc.warped * dm, gv, d);
        }
        store(d, gx + i, count);
        const auto both = at::vec::interleave2<float>(e, e * loc.w);
        std::get<0>(both).store(terms);
        std::get<1>(both).store(terms + kLanes);
        loc.idx.store(idx);
        // Both sums of a bin in one 64-bit read-add-write.
        for (int64_t j = 0; j < count; ++j) {
          double* bin = reinterpret_cast<double*>(h.data() + 2 * idx[j]);
          const __m128 sum = _mm_add_ps(
              _mm_castpd_ps(_mm_load_sd(bin)),
              _mm_castpd_ps(_mm_load_sd(
                  reinterpret_cast<const double*>(terms + 2 * j))));
          _mm_store_sd(bin, _mm_castps_pd(sum));
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

}  // namespace

// y = DiTAC(x) for n elements.
void ditac_forward_kernel(const float* x, float* y, int64_t n,
                                 const Lerp& t, int64_t variant,
                                 float slope) {
  dispatch_variant(variant, [&](auto v) {
    forward_kernel<decltype(v)::value>(x, y, n, t, slope);
  });
}

// grad_x and the (threads, bins, 2) float64 θ-histogram, zero on entry.
void ditac_backward_kernel(const float* x, const float* g, float* gx,
                                  double* hist, int64_t bins, int64_t n,
                                  const Lerp& t, int64_t variant,
                                  float slope) {
  dispatch_variant(variant, [&](auto v) {
    backward_kernel<decltype(v)::value>(x, g, gx, hist, bins, n, t, slope);
  });
}

}  // namespace CPU_CAPABILITY
}  // namespace mmact
