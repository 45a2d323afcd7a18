// avx512 dropout kernels (float32 and float64): dropout_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "ops/dropout/dropout_impl.h"

namespace nervo {
namespace dropout {
const Kernels kernels_avx512 = {&avx512::dropout_impl::apply<float>, &avx512::dropout_impl::apply<double>};
}  // namespace dropout
}  // namespace nervo
