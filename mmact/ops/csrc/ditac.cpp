// The DiTAC ops (torch.ops.mmact.ditac_{forward,backward}): argument checks
// and the dispatch to the kernels of ditac_kernels.h for the machine's
// instruction set (see isa.h).
#include <ATen/ATen.h>
#include <torch/library.h>

#include "ditac_kernels.h"
#include "isa.h"

namespace mmact {
namespace AVX512 {
void ditac_forward_kernel(const float* x, float* y, int64_t n, const Lerp& t,
                          int64_t variant, float slope);
void ditac_backward_kernel(const float* x, const float* g, float* gx,
                           double* hist, int64_t bins, int64_t n,
                           const Lerp& t, int64_t variant, float slope);
}  // namespace AVX512

namespace {

// Element-wise over storage order: any dense layout (contiguous,
// channels-last, ...) runs without a copy; outputs keep x's strides.
void check_dense_float(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == at::kFloat &&
                  t.is_non_overlapping_and_dense(),
              "mmact::ditac: ", name,
              " must be a dense float32 CPU tensor");
}

// sc_hi, c_hi: ops/ditac.py's grid_split (scale in float32, -a scale on
// a grid where c_hi - k is exact), so that every path picks the same bin.
Lerp make_lerp(const at::Tensor& pairs, const at::Tensor& desc, double a,
               double scale, double sc_hi, double c_hi, int64_t lo,
               int64_t hi, int64_t offset) {
  TORCH_CHECK(pairs.device().is_cpu() && pairs.scalar_type() == at::kFloat &&
                  pairs.is_contiguous() && pairs.dim() == 2 &&
                  pairs.size(1) == 2,
              "mmact::ditac: pairs must be a contiguous float32 CPU tensor "
              "of (base, step) rows, got ", pairs.scalar_type(), " ",
              pairs.sizes());
  TORCH_CHECK(desc.device().is_cpu() && desc.scalar_type() == at::kInt &&
                  desc.is_contiguous() && desc.dim() == 1,
              "mmact::ditac: desc must be a contiguous int32 CPU vector");
  TORCH_CHECK(lo + offset >= 0 && hi + offset < desc.numel(),
              "mmact::ditac: bins [lo, hi] + offset outside the table");
  // Every sub-bin a lookup can reach lies in pairs, and the grid rows are
  // what desc says: a bin's own row, or the marker of a split bin.
  const int32_t* d = desc.data_ptr<int32_t>();
  const int32_t* rows = reinterpret_cast<const int32_t*>(
      pairs.data_ptr<float>());
  bool split = false;
  for (int64_t k = lo + offset; k <= hi + offset; ++k) {
    const int64_t first = d[k] >> 4, level = d[k] & 15;
    TORCH_CHECK(d[k] >= 0 && first + (int64_t{1} << level) <= pairs.size(0),
                "mmact::ditac: sub-bins of bin ", k, " outside the table");
    const bool marked = rows[2 * k + 1] == kSplitMarker;
    TORCH_CHECK(level > 0 ? marked : !marked && first == k,
                "mmact::ditac: grid row ", k, " of pairs does not match desc");
    split = split || level > 0;
  }
  // The sub-bins of the lowest and the highest input, and their weight
  // w = (s - k) 2^level - sub as a function of x.
  const int32_t edge_lo = d[lo + offset] >> 4;
  const int32_t edge_hi =
      (d[hi + offset] >> 4) + (1 << (d[hi + offset] & 15)) - 1;
  const double refine_lo = 1 << (d[lo + offset] & 15);
  const double refine_hi = 1 << (d[hi + offset] & 15);
  return {pairs.data_ptr<float>(),
          d,
          static_cast<float>(sc_hi),
          static_cast<float>(scale - sc_hi),
          static_cast<float>(c_hi),
          static_cast<float>(-a * scale - c_hi),
          static_cast<float>(lo),
          static_cast<float>(hi),
          static_cast<int32_t>(offset),
          edge_lo,
          edge_hi == edge_lo ? -1 : edge_hi,
          {scale * refine_lo, scale * refine_hi},
          {(-a * scale - lo) * refine_lo,
           (-a * scale - hi) * refine_hi - (refine_hi - 1)},
          split};
}

at::Tensor ditac_forward(const at::Tensor& x, const at::Tensor& pairs,
                         const at::Tensor& desc, double a, double scale,
                         double sc_hi, double c_hi, int64_t lo, int64_t hi,
                         int64_t offset, int64_t variant, double slope) {
  check_dense_float(x, "x");
  const Lerp t =
      make_lerp(pairs, desc, a, scale, sc_hi, c_hi, lo, hi, offset);
  at::Tensor y = at::empty_like(x);
  if (use_avx512()) {
    AVX512::ditac_forward_kernel(x.data_ptr<float>(), y.data_ptr<float>(),
                                 x.numel(), t, variant,
                                 static_cast<float>(slope));
  } else {
    ditac_forward_kernel(x.data_ptr<float>(), y.data_ptr<float>(),
                         x.numel(), t, variant, static_cast<float>(slope));
  }
  return y;
}

std::tuple<at::Tensor, at::Tensor> ditac_backward(
    const at::Tensor& x, const at::Tensor& grad, const at::Tensor& pairs,
    const at::Tensor& desc, double a, double scale, double sc_hi,
    double c_hi, int64_t lo, int64_t hi, int64_t offset, int64_t variant,
    double slope) {
  check_dense_float(x, "x");
  check_dense_float(grad, "grad");
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.strides() == x.strides(),
              "mmact::ditac: grad and x differ in shape or layout");
  const Lerp t =
      make_lerp(pairs, desc, a, scale, sc_hi, c_hi, lo, hi, offset);
  const int64_t bins = pairs.size(0);
  at::Tensor grad_x = at::empty_like(x);
  at::Tensor hist = at::zeros({at::get_num_threads(), bins, 2},
                              x.options().dtype(at::kDouble));
  const auto kernel =
      use_avx512() ? AVX512::ditac_backward_kernel : ditac_backward_kernel;
  kernel(x.data_ptr<float>(), grad.data_ptr<float>(),
         grad_x.data_ptr<float>(), hist.data_ptr<double>(), bins, x.numel(), t,
         variant, static_cast<float>(slope));
  return {grad_x, hist.sum(0)};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(mmact, m) {
  m.def(
      "ditac_forward(Tensor x, Tensor pairs, Tensor desc, float a, "
      "float scale, float sc_hi, float c_hi, int lo, int hi, int offset, "
      "int variant, float slope) -> Tensor");
  m.def(
      "ditac_backward(Tensor x, Tensor grad, Tensor pairs, Tensor desc, "
      "float a, float scale, float sc_hi, float c_hi, int lo, int hi, "
      "int offset, int variant, float slope) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(mmact, CPU, m) {
  m.impl("ditac_forward", &ditac_forward);
  m.impl("ditac_backward", &ditac_backward);
}

}  // namespace mmact
