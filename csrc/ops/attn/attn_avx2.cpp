// avx2 attention kernels (float32); float64 uses the generic ones.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "core/vmath.h"
#include "ops/attn/attn_impl.h"

namespace nervo {
namespace attn {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx2() {
  static const Kernels k = {
      &avx2::attn_impl::forward<avx2::Vec8f>, &avx2::attn_impl::backward<avx2::Vec8f>,
      kernels_ref.forward_f64, kernels_ref.backward_f64,
  };
  return k;
}
}  // namespace attn
}  // namespace nervo
