// avx512 dropout kernels: float32 through the 8-block vector Philox (dropout_philox8.h, AVX2
// instructions), float64 through the portable dropout_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "ops/dropout/dropout_impl.h"
#include "ops/dropout/dropout_philox8.h"

namespace nervo {
namespace dropout {
const Kernels kernels_avx512 = {&avx512::dropout_philox8::apply_f32, &avx512::dropout_impl::apply<double>};
}  // namespace dropout
}  // namespace nervo
