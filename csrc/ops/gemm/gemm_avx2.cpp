// AVX2 + FMA GEMM pieces: the 6 x 16 float32 microkernel and the FMA loop. float64 uses the
// generic kernels (gemm_ref.cpp).
//
// Register map (16 ymm): 12 accumulators c[i][v] = C(i, 8v .. 8v+7), i < 6, v < 2; 2 for the
// current row of the B sliver; 1 for the broadcast a(i, k). Per k: 2 loads, 6 broadcasts, 12 FMAs
// (6 cycles on two FMA pipes; the loads fit beside them).
//
// Blocks, derived from the caches (Zen 5: L1d 48 KiB, L2 1 MiB per core, L3 32 MiB shared; this
// development VM reports 32 KiB L1d, which the numbers below also respect):
//   | block | value | what has to fit                           | bytes                  | share    |
//   |-------|-------|-------------------------------------------|------------------------|----------|
//   | KC    | 256   | B sliver KC x NR in L1, next to A sliver  | 256*16*4 = 16 KiB      | 1/3 L1d  |
//   |       |       | A sliver MR x KC streams through L1       | 6*256*4 = 6 KiB        |          |
//   | MC    | 144   | A block MC x KC in L2 (per core)          | 144*256*4 = 144 KiB    | 1/7 L2   |
//   | NC    | 4080  | B panel KC x NC in L3 (shared)            | 256*4080*4 = 3.98 MiB  | 1/8 L3   |
// KC also sets how often C is re-read: K/KC times; 256 keeps that traffic under 1% of the flops'
// time. MC and NC are multiples of MR and NR; MC from the sweep of MC in {72, 144, 288, 480}
// (1024^3, one thread: see README's performance table).
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "core/vmath.h"
#include "ops/gemm/gemm_impl.h"

namespace nervo {
namespace gemm {
namespace {
using V = avx2::Vec8f;
}  // namespace

// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx2() {
  static const Kernels k = {
      {6, 16, 144, 256, 4080, avx2::gemm_impl::ukernel_packed<V, 6, 2>(),
       avx2::gemm_impl::ukernel_strided<V, 6, 2>(), &avx2::gemm_impl::pack<float>,
       avx2::gemm_impl::skinny_dots_fn<V>(), avx2::gemm_impl::skinny_rows_fn<V>()},
      kernels_ref.f64,
      &avx2::gemm_impl::fma_loop<V>,
  };
  return k;
}
}  // namespace gemm
}  // namespace nervo
