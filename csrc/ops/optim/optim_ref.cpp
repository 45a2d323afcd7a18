// Generic (baseline x86-64) optimizer kernels: one-lane Vec, float32 and float64.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"

namespace nervo {
namespace ref {
template <class T>
inline VecS<T> vsqrt(VecS<T> a) { return {std::sqrt(a.v)}; }
}  // namespace ref
}  // namespace nervo

#include "ops/optim/optim_impl.h"

namespace nervo {
namespace optim {
const Kernels kernels_ref = {ref::optim_impl::table<ref::VecS<float>>(),
                             ref::optim_impl::table<ref::VecS<double>>()};
}  // namespace optim
}  // namespace nervo
