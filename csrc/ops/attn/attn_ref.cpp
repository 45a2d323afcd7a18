// Generic (baseline x86-64) attention kernels: one-lane Vec, float32 and float64.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"
#include "core/vmath.h"
#include "ops/attn/attn_impl.h"

namespace nervo {
namespace attn {
const Kernels kernels_ref = {
    &ref::attn_impl::forward<ref::VecS<float>>, &ref::attn_impl::backward<ref::VecS<float>>,
    &ref::attn_impl::forward<ref::VecS<double>>, &ref::attn_impl::backward<ref::VecS<double>>,
};
}  // namespace attn
}  // namespace nervo
