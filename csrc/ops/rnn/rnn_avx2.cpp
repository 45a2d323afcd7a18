// avx2 recurrent cell passes (float32); float64 uses the generic ones.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "core/vmath.h"
#include "ops/rnn/rnn_impl.h"

namespace nervo {
namespace rnn {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx2() {
  static const Kernels k = {
      &avx2::rnn_impl::cell_forward<avx2::Vec8f>, &avx2::rnn_impl::cell_backward<avx2::Vec8f>,
      kernels_ref.cell_forward_f64, kernels_ref.cell_backward_f64,
      16, &avx2::rnn_impl::rec_gemm<avx2::Vec8f, 6, 2>,
      kernels_ref.nr_f64, kernels_ref.rec_gemm_f64,
  };
  return k;
}
}  // namespace rnn
}  // namespace nervo
