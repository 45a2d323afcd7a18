// avx512 optimizer kernels (float32 and float64): optim_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "ops/optim/optim_impl.h"

namespace nervo {
namespace optim {
const Kernels kernels_avx512 = {avx512::optim_impl::table<float>(), avx512::optim_impl::table<double>()};
}  // namespace optim
}  // namespace nervo
