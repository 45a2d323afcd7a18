// AVX-512 GEMM pieces: the 14 x 32 float32 microkernel and the FMA loop. float64 uses the generic
// kernels (gemm_ref.cpp).
// NOTE: compiled and dispatched on AVX-512 CPUs, but the development VM has no AVX-512, so these
// sizes come from the derivation below, not from a measured sweep.
//
// Register map (32 zmm): 28 accumulators c[i][v] = C(i, 16v .. 16v+15), i < 14, v < 2; 2 for the
// current row of the B sliver; 1 for the broadcast a(i, k). Per k: 2 loads, 14 broadcasts, 28 FMAs
// (14 cycles on two 512-bit FMA pipes).
//
// Blocks, derived from Zen 5's caches (L1d 48 KiB, L2 1 MiB per core, L3 32 MiB shared):
//   | block | value | what has to fit                           | bytes                  | share    |
//   |-------|-------|-------------------------------------------|------------------------|----------|
//   | KC    | 192   | B sliver KC x NR in L1, next to A sliver  | 192*32*4 = 24 KiB      | 1/2 L1d  |
//   |       |       | A sliver MR x KC streams through L1       | 14*192*4 = 10.5 KiB    |          |
//   | MC    | 168   | A block MC x KC in L2 (per core)          | 168*192*4 = 126 KiB    | 1/8 L2   |
//   | NC    | 4096  | B panel KC x NC in L3 (shared)            | 192*4096*4 = 3 MiB     | 1/10 L3  |
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"
#include "ops/gemm/gemm_impl.h"

namespace nervo {
namespace gemm {
namespace {
using V = avx512::Vec16f;
}  // namespace

// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx512() {
  static const Kernels k = {
      {14, 32, 168, 192, 4096, avx512::gemm_impl::ukernel_packed<V, 14, 2>(),
       avx512::gemm_impl::ukernel_strided<V, 14, 2>(), &avx512::gemm_impl::pack<float>,
       avx512::gemm_impl::skinny_dots_fn<V>(), avx512::gemm_impl::skinny_rows_fn<V>()},
      kernels_ref.f64,
      &avx512::gemm_impl::fma_loop<V>,
  };
  return k;
}
}  // namespace gemm
}  // namespace nervo
