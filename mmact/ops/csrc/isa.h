// Which compiled instruction set the kernels use: AVX-512 where ATen's own
// kernels use it (the CPU has AVX-512 F/BW/DQ/VL and ATEN_CPU_CAPABILITY
// does not lower it), AVX2 otherwise. torch.ops.mmact.cpu_isa reads it and
// sets it for a test or a benchmark.
#pragma once

namespace mmact {

bool use_avx512();

}  // namespace mmact
