// avx2 optimizer kernels (float32 and float64): optim_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "ops/optim/optim_impl.h"

namespace nervo {
namespace optim {
const Kernels kernels_avx2 = {avx2::optim_impl::table<float>(), avx2::optim_impl::table<double>()};
}  // namespace optim
}  // namespace nervo
