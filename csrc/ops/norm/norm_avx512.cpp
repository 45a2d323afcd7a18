// AVX-512 row passes of the normalization family (float32); float64 uses the generic ones.
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "ops/norm/norm_impl.h"

namespace nervo {
namespace norm {
const Kernels kernels_avx512 = {avx512::norm_impl::row_table<avx512::Vec16f>(), &rows_f64_ref};
}  // namespace norm
}  // namespace nervo
