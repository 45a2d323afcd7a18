// avx512 cross-entropy kernels (float32); float64 uses the generic kernels.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"
#include "ops/loss/loss_impl.h"

namespace nervo {
namespace loss {
const Kernels kernels_avx512 = {
    &avx512::loss_impl::cross_entropy<avx512::Vec16f>,
    kernels_ref.cross_entropy_f64,
};
}  // namespace loss
}  // namespace nervo
