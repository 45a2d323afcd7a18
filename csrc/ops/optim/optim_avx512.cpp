// avx512 optimizer kernels (float32); float64 uses the generic kernels.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"

namespace nervo {
namespace avx512 {
inline Vec16f vsqrt(Vec16f a) { return {_mm512_sqrt_ps(a.v)}; }
}  // namespace avx512
}  // namespace nervo

#include "ops/optim/optim_impl.h"

namespace nervo {
namespace optim {
const Kernels kernels_avx512 = {avx512::optim_impl::table<avx512::Vec16f>(), kernels_ref.f64};
}  // namespace optim
}  // namespace nervo
