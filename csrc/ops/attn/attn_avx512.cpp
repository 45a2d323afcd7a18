// avx512 attention kernels (float32); float64 uses the generic ones.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"
#include "ops/attn/attn_impl.h"

namespace nervo {
namespace attn {
const Kernels kernels_avx512 = {
    &avx512::attn_impl::forward<avx512::Vec16f>, &avx512::attn_impl::backward<avx512::Vec16f>,
    kernels_ref.forward_f64, kernels_ref.backward_f64,
};
}  // namespace attn
}  // namespace nervo
