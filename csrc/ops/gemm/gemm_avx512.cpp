// avx512 pieces of the GEMM family (see gemm_kernels.h).
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"
#include "ops/gemm/gemm_impl.h"

namespace nervo {
namespace gemm {
const Kernels kernels_avx512 = {
    &avx512::gemm_impl::fma_loop<avx512::Vec16f>,
};
}  // namespace gemm
}  // namespace nervo
