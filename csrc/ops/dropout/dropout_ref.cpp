// ref dropout kernels (float32 and float64): dropout_impl.h compiled for this ISA.
#include <cstdint>
#define NERVO_ISA_NS ref
#include "ops/dropout/dropout_impl.h"

namespace nervo {
namespace dropout {
const Kernels kernels_ref = {&ref::dropout_impl::apply<float>, &ref::dropout_impl::apply<double>};
}  // namespace dropout
}  // namespace nervo
