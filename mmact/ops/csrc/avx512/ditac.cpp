// The DiTAC kernels in AVX-512 (16 float lanes), for ditac.cpp to call on
// machines that have it (isa.h). The build (torch's ninja build: one set of
// flags for every file) compiles with AVX2 flags; this file switches to
// AVX-512 before any header, as -mavx512f would: code generation (the
// pragma), the feature macros (sleef.h declares its 16-lane functions
// under them) and ATen's CPU_CAPABILITY, so that at::vec and the kernels
// take their AVX-512 form in their own namespace. setup.py links it after
// the AVX2 objects: where an inline function of a header is emitted by
// both, the linker keeps the first, AVX2, copy.
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")
#define __AVX512F__ 1
#define __AVX512BW__ 1
#define __AVX512DQ__ 1
#define __AVX512VL__ 1
#undef CPU_CAPABILITY
#undef CPU_CAPABILITY_AVX2
#define CPU_CAPABILITY AVX512
#define CPU_CAPABILITY_AVX512

#include "../ditac_kernels.h"
