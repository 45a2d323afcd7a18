// avx512 recurrent cell passes (float32); float64 uses the generic ones.
#include <cmath>
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "core/vmath.h"
#include "ops/rnn/rnn_impl.h"

namespace nervo {
namespace rnn {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx512() {
  static const Kernels k = {
      &avx512::rnn_impl::cell_forward<avx512::Vec16f>, &avx512::rnn_impl::cell_backward<avx512::Vec16f>,
      kernels_ref.cell_forward_f64, kernels_ref.cell_backward_f64,
      32, &avx512::rnn_impl::rec_gemm<avx512::Vec16f, 6, 2>,
      kernels_ref.nr_f64, kernels_ref.rec_gemm_f64,
  };
  return k;
}
}  // namespace rnn
}  // namespace nervo
