// ref pieces of the GEMM family (see gemm_kernels.h).
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"
#include "core/vmath.h"
#include "ops/gemm/gemm_impl.h"

namespace nervo {
namespace gemm {
const Kernels kernels_ref = {
    &ref::gemm_impl::fma_loop<ref::VecS<float>>,
};
}  // namespace gemm
}  // namespace nervo
