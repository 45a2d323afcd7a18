// Generic (baseline x86-64 / any CPU) GEMM pieces: portable C++ microkernels over a one-lane Vec,
// float32 and float64, and the FMA loop (multiply + add here: baseline x86-64 has no FMA).
//
// Tile and blocks (both dtypes): 4 x 4 scalar accumulators in 16 of the 16 xmm registers (the
// b values are reloaded from L1); KC = 256 keeps the 4 x 256 A sliver and the 256 x 4 B sliver in
// a few KiB of L1; MC = 128 and NC = 2048 as for AVX2, scaled down (this level is a fallback).
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"
#include "core/vmath.h"
#include "ops/gemm/gemm_impl.h"

namespace nervo {
namespace gemm {
namespace {
using F = ref::VecS<float>;
using D = ref::VecS<double>;
}  // namespace

const Kernels kernels_ref = {
    {4, 4, 128, 256, 2048, ref::gemm_impl::ukernel_packed<F, 4, 4>(),
     ref::gemm_impl::ukernel_strided<F, 4, 4>(), &ref::gemm_impl::pack<float>,
     ref::gemm_impl::skinny_dots_fn<F>(), ref::gemm_impl::skinny_rows_fn<F>()},
    {4, 4, 128, 256, 2048, ref::gemm_impl::ukernel_packed<D, 4, 4>(),
     ref::gemm_impl::ukernel_strided<D, 4, 4>(), &ref::gemm_impl::pack<double>,
     ref::gemm_impl::skinny_dots_fn<D>(), ref::gemm_impl::skinny_rows_fn<D>()},
    &ref::gemm_impl::fma_loop<F>,
};
}  // namespace gemm
}  // namespace nervo
