// Generic (baseline x86-64 / any CPU) activation kernels: one-lane Vec, float32 and float64.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"
#include "core/vmath.h"

namespace nervo {
namespace ref {
// The generic level has no streaming stores: plain stores.
template <class T>
inline void stream(VecS<T> v, T* p) { v.store(p); }
inline void stream_fence() {}
}  // namespace ref
}  // namespace nervo

#include "ops/act/act_impl.h"

namespace nervo {
namespace act {
const Kernels kernels_ref = {
    &ref::act_impl::forward<ref::VecS<float>>, &ref::act_impl::backward<ref::VecS<float>>,
    &ref::act_impl::forward<ref::VecS<double>>, &ref::act_impl::backward<ref::VecS<double>>,
    &ref::act_impl::vmath_eval<ref::VecS<float>>,
};
}  // namespace act
}  // namespace nervo
