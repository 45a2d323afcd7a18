// avx2 optimizer kernels (float32); float64 uses the generic kernels.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"

namespace nervo {
namespace avx2 {
inline Vec8f vsqrt(Vec8f a) { return {_mm256_sqrt_ps(a.v)}; }
}  // namespace avx2
}  // namespace nervo

#include "ops/optim/optim_impl.h"

namespace nervo {
namespace optim {
const Kernels kernels_avx2 = {avx2::optim_impl::table<avx2::Vec8f>(), kernels_ref.f64};
}  // namespace optim
}  // namespace nervo
