// The GEMM family's per-ISA code, written once over a Vec type (core/vec_*.h) and instantiated by
// gemm_ref.cpp, gemm_avx2.cpp and gemm_avx512.cpp inside their own ISA namespace (NERVO_ISA_NS).
#pragma once
#include <cstdint>

#include "ops/gemm/gemm_kernels.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace gemm_impl {

// FMA throughput: 12 independent accumulator chains cover FMA latency (4 cycles) x 2 pipes with
// room to spare, and all stay in registers (12 of 16 ymm / 32 zmm). The multiplier and addend keep
// the values bounded (x -> 0.999999 x + 1e-6 converges to 1), so no denormals or infinities slow it.
template <class V>
double fma_loop(int64_t iters) {
  using T = typename V::value_type;
  const V m = V::set1(T(0.999999)), c = V::set1(T(1e-6));
  V a0 = V::set1(T(0.1)), a1 = V::set1(T(0.2)), a2 = V::set1(T(0.3)), a3 = V::set1(T(0.4));
  V a4 = V::set1(T(0.5)), a5 = V::set1(T(0.6)), a6 = V::set1(T(0.7)), a7 = V::set1(T(0.8));
  V a8 = V::set1(T(0.9)), a9 = V::set1(T(1.1)), a10 = V::set1(T(1.2)), a11 = V::set1(T(1.3));
  for (int64_t i = 0; i < iters; ++i) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a8 = fma(a8, m, c); a9 = fma(a9, m, c); a10 = fma(a10, m, c); a11 = fma(a11, m, c);
  }
  V s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  T out[V::width];
  s.store(out);
  volatile T sink = out[0];  // keeps the loop from being optimized away
  (void)sink;
  return 2.0 * 12.0 * V::width * static_cast<double>(iters);
}

}  // namespace gemm_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
