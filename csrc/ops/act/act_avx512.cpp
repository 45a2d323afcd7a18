// avx512 activation kernels (float32); float64 uses the generic kernels.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"

namespace nervo {
namespace avx512 {
// Non-temporal store of a full vector to a 64-byte aligned address, and the fence that
// orders streaming stores before the parallel region ends.
inline void stream(Vec16f v, float* p) { _mm512_stream_ps(p, v.v); }
inline void stream_fence() { _mm_sfence(); }
}  // namespace avx512
}  // namespace nervo

#include "ops/act/act_impl.h"

namespace nervo {
namespace act {
const Kernels kernels_avx512 = {
    &avx512::act_impl::forward<avx512::Vec16f>, &avx512::act_impl::backward<avx512::Vec16f>,
    kernels_ref.forward_f64, kernels_ref.backward_f64,
    &avx512::act_impl::vmath_eval<avx512::Vec16f>,
};
}  // namespace act
}  // namespace nervo
