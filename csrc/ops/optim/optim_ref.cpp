// ref optimizer kernels (float32 and float64): optim_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS ref
#include "ops/optim/optim_impl.h"

namespace nervo {
namespace optim {
const Kernels kernels_ref = {ref::optim_impl::table<float>(), ref::optim_impl::table<double>()};
}  // namespace optim
}  // namespace nervo
