// RReLU in training on CPU: y = x for x > 0, r x otherwise, with one slope
// r ~ U(lower, upper) per element. ATen draws r one element at a time from
// its mt19937 (7-9x GELU's forward + backward) and saves r beside x. Here r
// comes from Philox4x32-10 (Salmon et al., SC 2011: the counter-based
// generator of torch's CUDA RNG and of Triton's tl.rand), keyed by a 64-bit
// seed the caller draws from torch's generator (a tensor, so that
// torch.compile traces the draw), so the backward recomputes r and saves
// only y (for r >= 0, y > 0 exactly where x > 0).
//
// Counter layout: the tensor's storage is cut into blocks of kBlock = 4
// kGroups elements; element j + l kGroups of block b (l < 4) takes output
// word l of Philox at counter (b kGroups + j, 0) split into two 32-bit
// words (low first), the last two words 0. The word w gives
// u = (w >> 8) 2^-24 in [0, 1) and r = lower + (upper - lower) u, in
// float32. The same seed gives the same r whatever the thread count.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <immintrin.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>

#include "common.h"

namespace mmact {
namespace {

constexpr int64_t kGroups = 64;
constexpr int64_t kBlock = 4 * kGroups;

// (hi, lo) words of the 32 x 32-bit products m c in 8 lanes: even lanes by
// one vpmuludq, odd lanes by another on the words shifted down.
inline void mulhilo(__m256i m, __m256i c, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(m, c);
  const __m256i odd = _mm256_mul_epu32(m, _mm256_srli_epi64(c, 32));
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// Slopes r for the kBlock elements of block `block`, 8 counters at a time.
void slopes(uint64_t block, uint64_t seed, float lower, float span,
            float* r) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 lo = _mm256_set1_ps(lower), sp = _mm256_set1_ps(span);
  const __m256 unit = _mm256_set1_ps(0x1p-24f);
  for (int64_t j = 0; j < kGroups; j += 8) {
    const uint64_t n = block * kGroups + j;  // n + 7 stays in the low word
    __m256i c0 = _mm256_add_epi32(
        _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(n))), lane);
    __m256i c1 =
        _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(n >> 32)));
    __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
    uint32_t k0 = static_cast<uint32_t>(seed);
    uint32_t k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo(m0, c0, hi0, lo0);
      mulhilo(m1, c2, hi1, lo1);
      c0 = _mm256_xor_si256(
          _mm256_xor_si256(hi1, c1),
          _mm256_set1_epi32(static_cast<int>(k0)));
      c2 = _mm256_xor_si256(
          _mm256_xor_si256(hi0, c3),
          _mm256_set1_epi32(static_cast<int>(k1)));
      c1 = lo1;
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const __m256i words[4] = {c0, c1, c2, c3};
    for (int l = 0; l < 4; ++l) {
      const __m256 u = _mm256_mul_ps(
          _mm256_cvtepi32_ps(_mm256_srli_epi32(words[l], 8)), unit);
      _mm256_storeu_ps(r + l * kGroups + j,
                       _mm256_add_ps(lo, _mm256_mul_ps(sp, u)));
    }
  }
}

void check_dense(const at::Tensor& t, const char* name) {
  check_cpu(t, "rrelu", name, at::kFloat);
  TORCH_CHECK(t.is_non_overlapping_and_dense(), "mmact::rrelu: ", name,
              " must be non-overlapping and dense, got strides ",
              t.strides());
}

// The op's tensor (x or y) and its companion (out or grad), which must
// share its layout, the bounds and the seed (an int64 scalar); returns the
// seed.
int64_t check_args(const at::Tensor& t, const char* name,
                   const at::Tensor& u, const char* u_name, double lower,
                   double upper, const at::Tensor& seed) {
  check_dense(t, name);
  check_dense(u, u_name);
  TORCH_CHECK(u.sizes() == t.sizes() && u.strides() == t.strides(),
              "mmact::rrelu: ", u_name, " must have ", name,
              "'s shape and strides");
  TORCH_CHECK(0 <= lower && lower <= upper,
              "mmact::rrelu: needs 0 <= lower <= upper, got lower = ", lower,
              ", upper = ", upper);
  TORCH_CHECK(seed.device().is_cpu() && seed.scalar_type() == at::kLong &&
                  seed.numel() == 1,
              "mmact::rrelu: seed must be one int64 on the CPU, got ",
              seed.scalar_type(), " ", seed.sizes());
  return seed.item<int64_t>();
}

// out = value where sign > 0, value r elsewhere, over n elements: the
// forward with sign = value = x, the backward with sign = y, value = grad.
void apply_slopes(const float* sign, const float* value, float* out,
                  int64_t n, double lower, double upper, int64_t seed) {
  const float lo = static_cast<float>(lower);
  const float span = static_cast<float>(upper) - lo;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  at::parallel_for(0, blocks, kGrain / kBlock, [&](int64_t b0, int64_t b1) {
    alignas(64) float r[kBlock];
    for (int64_t b = b0; b < b1; ++b) {
      slopes(static_cast<uint64_t>(b), static_cast<uint64_t>(seed), lo, span,
             r);
      const int64_t i0 = b * kBlock;
      for_each_vec(0, std::min(kBlock, n - i0), [&](int64_t t, int64_t k) {
        const Vec v = load(value + i0 + t, k);
        store(Vec::blendv(v * load(r + t, k), v,
                          load(sign + i0 + t, k) > Vec(0.f)),
              out + i0 + t, k);
      });
    }
  });
}

// Writes y into `out` (x itself for an in-place RReLU; then same strides).
void rrelu_forward(const at::Tensor& x, const at::Tensor& out, double lower,
                   double upper, const at::Tensor& seed_tensor) {
  const int64_t seed =
      check_args(x, "x", out, "out", lower, upper, seed_tensor);
  const float* xp = x.data_ptr<float>();
  apply_slopes(xp, xp, out.data_ptr<float>(), x.numel(), lower, upper, seed);
}

// grad_x from y (the forward's output) and the same seed.
at::Tensor rrelu_backward(const at::Tensor& y, const at::Tensor& grad,
                          double lower, double upper,
                          const at::Tensor& seed_tensor) {
  const int64_t seed =
      check_args(y, "y", grad, "grad", lower, upper, seed_tensor);
  at::Tensor gx = at::empty_like(y);
  apply_slopes(y.data_ptr<float>(), grad.data_ptr<float>(),
               gx.data_ptr<float>(), y.numel(), lower, upper, seed);
  return gx;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def(
      "rrelu_forward(Tensor x, Tensor(a!) out, float lower, float upper,"
      " Tensor seed) -> ()");
  m.def(
      "rrelu_backward(Tensor y, Tensor grad, float lower, float upper,"
      " Tensor seed) -> Tensor");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("rrelu_forward", &rrelu_forward);
  m.impl("rrelu_backward", &rrelu_backward);
}

}  // namespace mmact
