// avx2 pieces of the GEMM family (see gemm_kernels.h).
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "core/vmath.h"
#include "ops/gemm/gemm_impl.h"

namespace nervo {
namespace gemm {
const Kernels kernels_avx2 = {
    &avx2::gemm_impl::fma_loop<avx2::Vec8f>,
};
}  // namespace gemm
}  // namespace nervo
