#include "isa.h"

#include <ATen/Version.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <atomic>
#include <optional>
#include <string>

namespace mmact {
namespace {

bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
}

// -1: ATen's choice; 0: AVX2; 1: AVX-512.
std::atomic<int> g_choice{-1};

std::string cpu_isa(std::optional<std::string> isa) {
  const std::string current = use_avx512() ? "avx512" : "avx2";
  if (isa) {
    TORCH_CHECK(*isa == "avx2" || *isa == "avx512",
                "mmact::cpu_isa: isa must be 'avx2' or 'avx512', got '", *isa,
                "'");
    TORCH_CHECK(*isa == "avx2" || cpu_has_avx512(),
                "mmact::cpu_isa: this CPU lacks AVX-512 (F, BW, DQ, VL)");
    g_choice = *isa == "avx512";
  }
  return current;
}

}  // namespace

bool use_avx512() {
  static const bool by_default =
      cpu_has_avx512() && at::get_cpu_capability() == "AVX512";
  const int choice = g_choice.load(std::memory_order_relaxed);
  return choice < 0 ? by_default : choice == 1;
}

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def("cpu_isa(str? isa=None) -> str", &cpu_isa);
}

}  // namespace mmact
