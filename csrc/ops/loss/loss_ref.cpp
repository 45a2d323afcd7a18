// Generic (baseline x86-64) cross-entropy kernels: one-lane Vec, float32 and float64.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"
#include "core/vmath.h"
#include "ops/loss/loss_impl.h"

namespace nervo {
namespace loss {
const Kernels kernels_ref = {
    &ref::loss_impl::cross_entropy<ref::VecS<float>>,
    &ref::loss_impl::cross_entropy<ref::VecS<double>>,
};
}  // namespace loss
}  // namespace nervo
