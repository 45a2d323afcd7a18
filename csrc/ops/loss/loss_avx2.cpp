// avx2 cross-entropy kernels (float32); float64 uses the generic kernels.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "core/vmath.h"
#include "ops/loss/loss_impl.h"

namespace nervo {
namespace loss {
const Kernels kernels_avx2 = {
    &avx2::loss_impl::cross_entropy<avx2::Vec8f>,
    kernels_ref.cross_entropy_f64,
};
}  // namespace loss
}  // namespace nervo
