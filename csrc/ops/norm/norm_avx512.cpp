// AVX-512 row passes of the normalization family (float32); float64 uses the generic ones.
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "ops/norm/norm_impl.h"

namespace nervo {
namespace norm {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx512() {
  static const Kernels k = {avx512::norm_impl::row_table<avx512::Vec16f>(), &rows_f64_ref};
  return k;
}
}  // namespace norm
}  // namespace nervo
