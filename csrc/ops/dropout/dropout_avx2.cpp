// avx2 dropout kernels (float32 and float64): dropout_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "ops/dropout/dropout_impl.h"

namespace nervo {
namespace dropout {
const Kernels kernels_avx2 = {&avx2::dropout_impl::apply<float>, &avx2::dropout_impl::apply<double>};
}  // namespace dropout
}  // namespace nervo
