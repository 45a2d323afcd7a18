// avx2 dropout kernels: float32 through the 8-block vector Philox (dropout_philox8.h, AVX2
// instructions), float64 through the portable dropout_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "ops/dropout/dropout_impl.h"
#include "ops/dropout/dropout_philox8.h"

namespace nervo {
namespace dropout {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx2() {
  static const Kernels k = {&avx2::dropout_philox8::apply_f32, &avx2::dropout_impl::apply<double>};
  return k;
}
}  // namespace dropout
}  // namespace nervo
