// avx2 recurrent cell passes (float32); float64 uses the generic ones.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "core/vmath.h"
#include "ops/rnn/rnn_impl.h"

namespace nervo {
namespace rnn {
const Kernels kernels_avx2 = {
    &avx2::rnn_impl::cell_forward<avx2::Vec8f>, &avx2::rnn_impl::cell_backward<avx2::Vec8f>,
    kernels_ref.cell_forward_f64, kernels_ref.cell_backward_f64,
    16, &avx2::rnn_impl::rec_gemm<avx2::Vec8f, 6, 2>,
    kernels_ref.nr_f64, kernels_ref.rec_gemm_f64,
};
}  // namespace rnn
}  // namespace nervo
