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
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx512() {
  static const Kernels k = {avx512::optim_impl::table<avx512::Vec16f>(), kernels_ref.f64};
  return k;
}
}  // namespace optim
}  // namespace nervo
