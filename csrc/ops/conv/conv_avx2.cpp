// AVX2 direct-convolution microkernels (float32). Tiles: 4 output channels x 2 vectors of 8
// columns (8 accumulators + 4 broadcasts + 1 input of 16 ymm); weight gradient: 2 channels x 5
// taps (10 accumulators + 2 dy + 1 input): 5 taps split 3x3 (9) and 5x5 (25) filters evenly.
#include <cstdint>
#define NERVO_ISA_NS avx2
#include "core/vec_avx2.h"
#include "ops/conv/conv_impl.h"

namespace nervo {
namespace conv {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx2() {
  static const Kernels k = {
      &avx2::conv_impl::direct_fwd<avx2::Vec8f, 2>,
      &avx2::conv_impl::direct_wgt<avx2::Vec8f, 5>,
      16,
  };
  return k;
}
}  // namespace conv
}  // namespace nervo
