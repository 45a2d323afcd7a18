// Generic (baseline x86-64) softmax kernels: one-lane Vec, float32 and float64.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"
#include "core/vmath.h"
#include "ops/softmax/softmax_impl.h"

namespace nervo {
namespace softmax {
const Kernels kernels_ref = {
    &ref::softmax_impl::forward<ref::VecS<float>>, &ref::softmax_impl::backward<ref::VecS<float>>,
    &ref::softmax_impl::forward<ref::VecS<double>>, &ref::softmax_impl::backward<ref::VecS<double>>,
};
}  // namespace softmax
}  // namespace nervo
