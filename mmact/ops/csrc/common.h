// Shared by the CPU kernels: the 8-lane float vector of ATen (AVX2) and a
// parallel loop over [0, n) in chunks that stay in cache.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace mmact {

using Vec = at::vec::Vectorized<float>;
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
