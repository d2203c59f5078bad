// DiTAC's CPU kernels: the op of mmact/ops/ditac.py fused into one pass
// per direction. Forward: window lookup, table lerp, Φ(x), product. A
// lookup reads its grid bin's row; lanes whose bin is split into sub-bins
// are listed and looked up again after their block.
// Backward: grad_x plus the θ-histogram (upstream gradient per sub-bin,
// weights 1 - w and w of the lerp): a float32 copy per thread, flushed into
// the thread's float64 copy every kFlush elements; the copies summed at the
// end. Every input outside the window lands in one of the table's two end
// sub-bins: read-add-writes to one address would form a chain as long as
// the tensor, so those lanes are summed in vector registers ('inf') or
// not at all (the identity bins of the others); the rest are compressed
// into a buffer and scattered from it. Compiled once per instruction set,
// each into the CPU_CAPABILITY namespace of its translation unit:
// ditac.cpp (AVX2) and avx512/ditac.cpp.
#pragma once

#include <vector>

#include "common.h"

namespace mmact {

enum DiTACVariant : int64_t { kDiTAC = 0, kGE = 1, kLeaky = 2, kInf = 3 };

// A NaN payload that arithmetic does not produce (its NaNs carry none):
// the step of a split bin's grid row. ditac.cpp checks the rows.
constexpr int32_t kSplitMarker = 0x7fc0d17a;

// The table of mmact/ops/ditac.py (LerpTable), packed (_cpu_args) on a
// grid 2^r times as fine as the table's, so that a lookup whose grid bin
// is not split takes one gather: s = (x - a) * scale; grid bin k =
// clamp(floor(s), lo, hi) + offset; row k of pairs is (base, step) of the
// segment that bin covers (a sub-bin or a piece of one), or, for a bin
// split into 2^level sub-bins, a step of kSplitMarker bits. A lane in a
// split bin takes desc[k] = first * 16 + level (first: the row of its
// first sub-bin, past the grid rows); q = (s - k + offset) 2^level;
// sub-bin j = first + clamp(floor(q), 0, 2^level - 1); w = q - (j -
// first). x̃ = base[j] + w * step[j].
//
// s - k needs more than float32: where T is steep (dT/du ~ 200), rounding
// s to float32 (5e-4 near s = 8188) would move x̃ by 1e-5. So
// s = x scale + c with scale = sc_hi + sc_lo and c = -a scale =
// c_hi + c_lo, c_hi on a grid coarse enough that c_hi - k is exact, and
// s - k = (x sc_hi + (c_hi - k)) + (fma error of x sc_hi + c_lo +
// x sc_lo): the first sum is exact (Sterbenz), the rest small.
//
// edge_lo, edge_hi: the first and the last sub-bin a lookup can reach (-1
// for no second one), where w = x edge_slope[i] + edge_offset[i] (float64);
// split: whether any grid bin is split (where none is, no lane is marked).
struct Lerp {
  const float* pairs;
  const int32_t* desc;
  float sc_hi, sc_lo, c_hi, c_lo, lo, hi;
  int32_t offset, edge_lo, edge_hi;
  double edge_slope[2], edge_offset[2];
  bool split;
};

inline namespace CPU_CAPABILITY {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

struct Located {
  Vec w, warped, rate;  // rate = dx̃/ds
  VecI idx;
};

// (first, 2^level) of packed descriptors first * 16 + level.
inline void descriptors(const VecI& d, Vec& first, Vec& refine) {
#if defined(CPU_CAPABILITY_AVX512)
  first = Vec(_mm512_cvtepi32_ps(_mm512_srli_epi32(d, 4)));
  refine = Vec(_mm512_cvtepi32_ps(_mm512_sllv_epi32(
      _mm512_set1_epi32(1), _mm512_and_si512(d, _mm512_set1_epi32(15)))));
#else
  first = Vec(_mm256_cvtepi32_ps(_mm256_srli_epi32(d, 4)));
  refine = Vec(_mm256_cvtepi32_ps(_mm256_sllv_epi32(
      _mm256_set1_epi32(1), _mm256_and_si256(d, _mm256_set1_epi32(15)))));
#endif
}

// The lanes whose step is kSplitMarker, as a bit mask.
inline uint32_t marked(const Vec& step) {
#if defined(CPU_CAPABILITY_AVX512)
  return _mm512_cmpeq_epi32_mask(_mm512_castps_si512(step),
                                 _mm512_set1_epi32(kSplitMarker));
#else
  return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(
      _mm256_castps_si256(step), _mm256_set1_epi32(kSplitMarker))));
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

// The lookup of the lanes in unsplit bins (one gather); returns the lanes
// in split bins as a bit mask: locate() redoes those.
inline uint32_t locate_grid(const Vec& x, const Lerp& t, Located& out) {
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
  const VecI bin = at::vec::convert_to_int_of_same_size(k) + VecI(t.offset);
  Vec base, step;
  out.w = s_k;
  out.idx = bin;
  pairs_at(t.pairs, bin, base, step);
  out.warped = at::vec::fmadd(s_k, step, base);
  out.rate = step;
  return t.split ? marked(step) : 0;
}

// The lookup of every lane, for the few lanes locate_grid() leaves: the
// grid bin's descriptor (first sub-bin, level), then the sub-bin's row.
inline void locate(const Vec& x, const Lerp& t, Located& out) {
  locate_grid(x, t, out);  // s - k in w, the grid bin in idx
  Vec first, refine, base, step;
#if defined(CPU_CAPABILITY_AVX512)
  descriptors(_mm512_i32gather_epi32(__m512i(out.idx), t.desc, 4), first,
              refine);
#else
  descriptors(_mm256_i32gather_epi32(t.desc, out.idx, 4), first, refine);
#endif
  const Vec q = out.w * refine;
  const Vec sub = clamp_nan_low(q.floor(), Vec(0.f), refine - Vec(1.f));
  out.w = q - sub;
  out.idx = at::vec::convert_to_int_of_same_size(first + sub);
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

#if !defined(CPU_CAPABILITY_AVX512)
// AVX2 has no compress: permutations that move the set lanes of a mask to
// the front, in order: of 8 floats (8-bit masks) and of 4 float pairs
// (4-bit masks).
struct CompressTable {
  alignas(32) int32_t lanes[256][8];
  alignas(32) int32_t pairs[16][8];
  constexpr CompressTable() : lanes(), pairs() {
    for (int m = 0; m < 256; ++m) {
      int n = 0;
      for (int lane = 0; lane < 8; ++lane) {
        if (m >> lane & 1) {
          lanes[m][n] = lane;
          if (m < 16) {
            pairs[m][2 * n] = 2 * lane;
            pairs[m][2 * n + 1] = 2 * lane + 1;
          }
          ++n;
        }
      }
    }
  }
};
inline constexpr CompressTable kCompress{};

inline __m256i compress_order(const int32_t* order) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(order));
}
#endif

// The lanes of mask of v, in order, stored at out.
inline void compress_store(uint32_t mask, const VecI& v, int32_t* out) {
#if defined(CPU_CAPABILITY_AVX512)
  _mm512_storeu_si512(out, _mm512_maskz_compress_epi32(mask, v));
#else
  _mm256_storeu_si256(
      reinterpret_cast<__m256i*>(out),
      _mm256_permutevar8x32_epi32(v, compress_order(kCompress.lanes[mask])));
#endif
}

inline uint32_t lanes(int64_t count) { return (1u << count) - 1; }

// Elements per block: the lanes in split bins are looked up after their
// block, while it is in cache, from a list appended without a branch — a
// branch on them per vector would be mispredicted at random.
constexpr int64_t kBlock = 4096;

// The offsets in the block of the lanes deferred, in order.
class Deferred {
 public:
  // The lanes of mask of the vector at offset i.
  void add(uint32_t mask, int64_t i) {
    compress_store(mask, iota_ + VecI(static_cast<int32_t>(i)), at_ + n_);
    n_ += __builtin_popcount(mask);
  }

  // body(offsets, count) per group of up to kLanes; then empties the list.
  template <typename Body>
  void drain(const Body& body) {
    for (int64_t j = 0; j < n_; j += kLanes) {
      body(at_ + j, std::min<int64_t>(kLanes, n_ - j));
    }
    n_ = 0;
  }

 private:
  const VecI iota_ = VecI::arange(0, 1);
  int64_t n_ = 0;
  alignas(64) int32_t at_[kBlock + kLanes];
};

// The values of p at offsets (count lanes, the rest zero) and back.
inline Vec gather(const float* p, const int32_t* at, int64_t count) {
#if defined(CPU_CAPABILITY_AVX512)
  const __mmask16 m = lanes(count);
  return Vec(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), m,
                                      _mm512_maskz_loadu_epi32(m, at), p, 4));
#else
  const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(count),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6,
                                                         7));
  return Vec(_mm256_mask_i32gather_ps(_mm256_setzero_ps(), p,
                                      _mm256_maskload_epi32(at, m),
                                      _mm256_castsi256_ps(m), 4));
#endif
}

inline void scatter(const Vec& v, float* p, const int32_t* at,
                    int64_t count) {
#if defined(CPU_CAPABILITY_AVX512)
  const __mmask16 m = lanes(count);
  _mm512_mask_i32scatter_ps(p, m, _mm512_maskz_loadu_epi32(m, at), v, 4);
#else
  alignas(32) float u[kLanes];
  v.store(u);
  for (int64_t l = 0; l < count; ++l) p[at[l]] = u[l];
#endif
}

template <int64_t V>
void forward_kernel(const float* x, float* y, int64_t n, const Lerp& t,
                    float slope) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    Located loc;
    Deferred deferred;
    const auto value = [&](const Vec& xv) {
      return loc.warped * multiplier<V>(xv, loc.warped, slope);
    };
    for (int64_t block = begin; block < end; block += kBlock) {
      const float* xb = x + block;
      float* yb = y + block;
      for_each_vec(0, std::min(kBlock, end - block),
                   [&](int64_t i, int64_t count) {
        const Vec xv = load(xb + i, count);
        const uint32_t split = locate_grid(xv, t, loc) & lanes(count);
        store(value(xv), yb + i, count);
        if (t.split) deferred.add(split, i);
      });
      deferred.drain([&](const int32_t* at, int64_t count) {
        const Vec xv = gather(xb, at, count);
        locate(xv, t, loc);
        scatter(value(xv), yb, at, count);
      });
    }
  });
}

// Elements per float32 histogram before it is flushed into the thread's
// float64 one: the float32 copy stays in L1 and keeps few terms per sum.
constexpr int64_t kFlush = 1 << 16;
// Lanes held before they are scattered: one long loop instead of a short
// one of varying length per vector (a mispredicted exit each).
constexpr int64_t kHeld = 1024;

// The lanes [0, count) of idx that are neither edge, as a bit mask.
inline uint32_t interior(const VecI& idx, const Lerp& t, int64_t count) {
#if defined(CPU_CAPABILITY_AVX512)
  return lanes(count) &
         _mm512_cmpneq_epi32_mask(idx, _mm512_set1_epi32(t.edge_lo)) &
         _mm512_cmpneq_epi32_mask(idx, _mm512_set1_epi32(t.edge_hi));
#else
  const __m256i edge =
      _mm256_or_si256(_mm256_cmpeq_epi32(idx, _mm256_set1_epi32(t.edge_lo)),
                      _mm256_cmpeq_epi32(idx, _mm256_set1_epi32(t.edge_hi)));
  return lanes(count) & ~static_cast<uint32_t>(
                            _mm256_movemask_ps(_mm256_castsi256_ps(edge)));
#endif
}

// The lanes of mask, in order, appended at n: idx to out_idx, (e, ew)
// pairs to out_terms.
inline void append(uint32_t mask, const VecI& idx, const Vec& e,
                   const Vec& ew, int32_t* out_idx, float* out_terms,
                   int64_t n) {
  // (e, ew) of the first half of the lanes, then of the second.
  const auto both = at::vec::interleave2<float>(e, ew);
  const uint32_t half = mask & ((1u << (kLanes / 2)) - 1);
  float* second = out_terms + 2 * (n + __builtin_popcount(half));
  const Vec first = std::get<0>(both), last = std::get<1>(both);
  compress_store(mask, idx, out_idx + n);
#if defined(CPU_CAPABILITY_AVX512)
  _mm512_storeu_pd(out_terms + 2 * n,
                   _mm512_maskz_compress_pd(half, _mm512_castps_pd(first)));
  _mm512_storeu_pd(
      second, _mm512_maskz_compress_pd(mask >> 8, _mm512_castps_pd(last)));
#else
  _mm256_storeu_ps(out_terms + 2 * n,
                   _mm256_permutevar8x32_ps(
                       first, compress_order(kCompress.pairs[half])));
  _mm256_storeu_ps(second,
                   _mm256_permutevar8x32_ps(
                       last, compress_order(kCompress.pairs[mask >> 4])));
#endif
}

using VecD = at::vec::Vectorized<double>;

// The first (half 0) or the second half of the lanes of v in float64.
inline VecD widen(const Vec& v, int half) {
#if defined(CPU_CAPABILITY_AVX512)
  return VecD(_mm512_cvtps_pd(_mm256_castpd_ps(
      _mm512_extractf64x4_pd(_mm512_castps_pd(v), half))));
#else
  return VecD(_mm256_cvtps_pd(_mm256_extractf128_ps(v, half)));
#endif
}

// The thread's histograms: h (float32, (bins, 2)) and the held lanes;
// with EdgeSums the edge sub-bins' sums (e and e w at edge_lo, then at
// edge_hi) per lane in float64, w from x in float64 ('inf' extrapolates
// the end segments: w grows with the distance from the window, and so
// does its float32 rounding), without them the edges are not summed (the
// identity bins, which θ does not reach).
template <bool EdgeSums>
class Histogram {
 public:
  Histogram(int64_t bins, const Lerp& t) : h_(bins * 2), t_(t) { clear(); }

  // The lanes [0, count) but those of skip (none at an edge).
  void add(const VecI& idx, const Vec& x, const Vec& e, const Vec& ew,
           int64_t count, uint32_t skip = 0) {
    const uint32_t mask = interior(idx, t_, count);
    if constexpr (EdgeSums) {
      if (__builtin_popcount(mask) < count) add_edges(idx, x, e);
    }
    append(mask & ~skip, idx, e, ew, idx_, terms_, held_);
    held_ += __builtin_popcount(mask & ~skip);
    if (held_ > kHeld - kLanes) scatter();
  }

  // Adds everything to total (float64, (bins, 2)) and starts over.
  void flush(double* total) {
    scatter();
    for (size_t k = 0; k < h_.size(); ++k) total[k] += h_[k];
    for (int side = 0; EdgeSums && side < 2; ++side) {
      const int32_t bin = side == 0 ? t_.edge_lo : t_.edge_hi;
      if (bin < 0) continue;
      for (int i = 0; i < 2; ++i) {
        alignas(64) double lanes[kLanes];
        edge_[2 * side + i][0].store(lanes);
        edge_[2 * side + i][1].store(lanes + kLanes / 2);
        for (int64_t j = 0; j < kLanes; ++j) total[2 * bin + i] += lanes[j];
      }
    }
    clear();
  }

 private:
  void clear() {
    std::fill(h_.begin(), h_.end(), 0.f);
    for (auto& halves : edge_) halves[0] = halves[1] = VecD(0.0);
  }

  // Lanes of other sub-bins enter as x = 0, e = 0: no NaN from an
  // infinite x at the other edge.
  void add_edges(const VecI& idx, const Vec& x, const Vec& e) {
    for (int side = 0; side < 2; ++side) {
      const Vec at = at::vec::cast<float>(
          idx == VecI(side == 0 ? t_.edge_lo : t_.edge_hi));
      const Vec xs = x & at, es = e & at;
      for (int half = 0; half < 2; ++half) {
        const VecD ed = widen(es, half);
        const VecD w = at::vec::fmadd(widen(xs, half),
                                      VecD(t_.edge_slope[side]),
                                      VecD(t_.edge_offset[side]));
        edge_[2 * side][half] += ed;
        edge_[2 * side + 1][half] += ed * w;
      }
    }
  }

  // Both sums of a bin in one 64-bit read-add-write.
  void scatter() {
#pragma GCC unroll 4
    for (int64_t j = 0; j < held_; ++j) {
      double* bin = reinterpret_cast<double*>(h_.data() + 2 * idx_[j]);
      const __m128 terms = _mm_castpd_ps(
          _mm_load_sd(reinterpret_cast<const double*>(terms_ + 2 * j)));
      _mm_store_sd(bin, _mm_castps_pd(_mm_add_ps(
                            _mm_castpd_ps(_mm_load_sd(bin)), terms)));
    }
    held_ = 0;
  }

  std::vector<float> h_;
  const Lerp& t_;
  VecD edge_[4][2];
  int64_t held_ = 0;
  alignas(64) int32_t idx_[kHeld];
  alignas(64) float terms_[2 * kHeld];
};

// e = g m and d = grad_x of the lanes at loc.
template <int64_t V>
inline void grads(const Vec& xv, const Vec& gv, const Located& loc,
                  float sc_hi, float slope, Vec& e, Vec& d) {
  Vec dm;
  e = gv * multiplier<V>(xv, loc.warped, slope, &dm);
  d = loc.rate * Vec(sc_hi) * e;
  if constexpr (kHasMultiplierGrad<V>) {
    d = at::vec::fmadd(loc.warped * dm, gv, d);
  }
}

template <int64_t V>
void backward_kernel(const float* x, const float* g, float* gx,
                     double* hist, int64_t bins, int64_t n, const Lerp& t,
                     float slope) {
  at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
    double* total = hist + at::get_thread_num() * bins * 2;
    Histogram<V == kInf> h(bins, t);
    Located loc;
    Deferred deferred;
    for (int64_t block = begin; block < end; block += kBlock) {
      const float *xb = x + block, *gb = g + block;
      float* gxb = gx + block;
      for_each_vec(0, std::min(kBlock, end - block),
                   [&](int64_t i, int64_t count) {
        const Vec xv = load(xb + i, count), gv = load(gb + i, count);
        const uint32_t split = locate_grid(xv, t, loc) & lanes(count);
        Vec e, d;
        grads<V>(xv, gv, loc, t.sc_hi, slope, e, d);
        store(d, gxb + i, count);
        h.add(loc.idx, xv, e, e * loc.w, count, split);
        if (t.split) deferred.add(split, i);
      });
      deferred.drain([&](const int32_t* at, int64_t count) {
        const Vec xv = gather(xb, at, count), gv = gather(gb, at, count);
        locate(xv, t, loc);
        Vec e, d;
        grads<V>(xv, gv, loc, t.sc_hi, slope, e, d);
        scatter(d, gxb, at, count);
        h.add(loc.idx, xv, e, e * loc.w, count);
      });
      if ((block - begin + kBlock) % kFlush == 0) h.flush(total);
    }
    h.flush(total);
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

// grad_x and the (threads, bins, 2) float64 θ-histogram, zero on entry
// (the identity bins' rows stay zero).
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
