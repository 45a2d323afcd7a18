// The per-ISA pieces of the GEMM family (microkernels, FMA peak loop), one table per ISA level,
// each defined in its own translation unit (gemm_ref.cpp, gemm_avx2.cpp, gemm_avx512.cpp).
// Blocking, packing, threading and edges live once in gemm.cpp.
#pragma once
#include <cstdint>

namespace nervo {
namespace gemm {

struct Kernels {
  // Runs `iters` rounds of register-resident, independent FMAs on one thread; returns the
  // floating-point operations done (2 per lane per FMA).
  double (*fma_loop_f32)(int64_t iters);
};

extern const Kernels kernels_ref;
extern const Kernels kernels_avx2;
extern const Kernels kernels_avx512;

// The table for nervo::current_isa().
const Kernels& kernels();

}  // namespace gemm
}  // namespace nervo
