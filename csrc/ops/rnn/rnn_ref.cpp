// Generic (baseline x86-64) recurrent cell passes: one-lane Vec, float32 and float64.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/vec_ref.h"
#include "core/vmath.h"
#include "ops/rnn/rnn_impl.h"

namespace nervo {
namespace rnn {
const Kernels kernels_ref = {
    &ref::rnn_impl::cell_forward<ref::VecS<float>>, &ref::rnn_impl::cell_backward<ref::VecS<float>>,
    &ref::rnn_impl::cell_forward<ref::VecS<double>>, &ref::rnn_impl::cell_backward<ref::VecS<double>>,
    2, &ref::rnn_impl::rec_gemm<ref::VecS<float>, 6, 2>,
    2, &ref::rnn_impl::rec_gemm<ref::VecS<double>, 6, 2>,
};
}  // namespace rnn
}  // namespace nervo
