// AVX-512 direct-convolution microkernels (float32). Tiles: 4 output channels x 2 vectors of 16
// columns (a 28-wide MNIST row is one tile); weight gradient: 2 channels x 5 taps.
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "ops/conv/conv_impl.h"

namespace nervo {
namespace conv {
// A function, not a global: the table is built on first use, i.e. only once dispatch picked this
// level. A global's dynamic initializer would run at import on every CPU, in code compiled
// for this ISA level (it copies the ref entries), and could fault where the level is missing.
const Kernels& kernels_avx512() {
  static const Kernels k = {
      &avx512::conv_impl::direct_fwd<avx512::Vec16f, 2>,
      &avx512::conv_impl::direct_wgt<avx512::Vec16f, 5>,
      32,
  };
  return k;
}
}  // namespace conv
}  // namespace nervo
