// avx512 cross-entropy kernels (float32); float64 uses the generic kernels.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"
#include "ops/loss/loss_impl.h"

namespace nervo {
namespace loss {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx512() {
  static const Kernels k = {
      &avx512::loss_impl::cross_entropy<avx512::Vec16f>,
      kernels_ref.cross_entropy_f64,
  };
  return k;
}
}  // namespace loss
}  // namespace nervo
