// AVX2 row passes of the normalization family (float32); float64 uses the generic ones.
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "ops/norm/norm_impl.h"

namespace nervo {
namespace norm {
const Kernels kernels_avx2 = {avx2::norm_impl::row_table<avx2::Vec8f>(), &rows_f64_ref};
}  // namespace norm
}  // namespace nervo
