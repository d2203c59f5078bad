// Shared by the CPU kernels: ATen's float vector (8 lanes in AVX2, 16 in
// the files compiled for AVX-512) and a parallel loop over [0, n) in chunks
// that stay in cache.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace mmact {

using Vec = at::vec::Vectorized<float>;
using VecI = at::vec::Vectorized<int32_t>;
constexpr int64_t kLanes = Vec::size();
constexpr int64_t kGrain = 1 << 15;

// Calls body(i, count) for each group of up to kLanes elements; the last
// group of a range is partial (count < kLanes, loads zero-filled).
template <typename Body>
inline void for_each_vec(int64_t begin, int64_t end, const Body& body) {
  for (int64_t i = begin; i < end; i += kLanes) {
    body(i, std::min<int64_t>(kLanes, end - i));
  }
}

inline Vec load(const float* p, int64_t count) {
  return count == kLanes ? Vec::loadu(p) : Vec::loadu(p, count);
}

inline void store(const Vec& v, float* p, int64_t count) {
  if (count == kLanes) {
    v.store(p);
  } else {
    v.store(p, count);
  }
}

// Fails with "mmact::<op>: <name> must be a [contiguous] <dtype> CPU
// tensor [with <dim> dimension(s)], got ..." unless t is one; dim < 0
// accepts any rank and layout.
inline void check_cpu(const at::Tensor& t, const char* op, const char* name,
                      at::ScalarType dtype, int64_t dim = -1) {
  const bool shaped = dim < 0 || (t.dim() == dim && t.is_contiguous());
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == dtype && shaped,
              "mmact::", op, ": ", name, " must be a ",
              dim < 0 ? "" : "contiguous ",
              dtype == at::kDouble ? "float64" : "float32", " CPU tensor",
              dim < 0 ? "" : " with ", dim < 0 ? "" : std::to_string(dim),
              dim < 0 ? "" : " dimension(s)", ", got ", t.scalar_type(), " ",
              t.sizes(), " on ", t.device());
}

// Calls f(std::integral_constant<int64_t, C>{}) for the C of Codes equal to
// code, so each variant's kernel is specialised at compile time; an unknown
// code fails with "<what> <code>".
template <int64_t... Codes, typename F>
void dispatch(int64_t code, const char* what, const F& f) {
  const bool found =
      ((code == Codes &&
        (f(std::integral_constant<int64_t, Codes>{}), true)) ||
       ...);
  TORCH_CHECK(found, what, " ", code);
}

}  // namespace mmact
