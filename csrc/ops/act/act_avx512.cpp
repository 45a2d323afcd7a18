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
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx512() {
  static const Kernels k = {
      &avx512::act_impl::forward<avx512::Vec16f>, &avx512::act_impl::backward<avx512::Vec16f>,
      kernels_ref.forward_f64, kernels_ref.backward_f64,
      &avx512::act_impl::vmath_eval<avx512::Vec16f>,
  };
  return k;
}
}  // namespace act
}  // namespace nervo
