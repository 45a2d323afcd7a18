// avx512 softmax kernels (float32); float64 uses the generic kernels.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"
#include "ops/softmax/softmax_impl.h"

namespace nervo {
namespace softmax {
const Kernels kernels_avx512 = {
    &avx512::softmax_impl::forward<avx512::Vec16f>, &avx512::softmax_impl::backward<avx512::Vec16f>,
    kernels_ref.forward_f64, kernels_ref.backward_f64,
};
}  // namespace softmax
}  // namespace nervo
