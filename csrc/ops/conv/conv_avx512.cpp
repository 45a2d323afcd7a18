// AVX-512 direct-convolution microkernels (float32). Tiles: 4 output channels x 2 vectors of 16
// columns (a 28-wide MNIST row is one tile); weight gradient: 2 channels x 5 taps.
#include <cstdint>
#define NERVO_ISA_NS avx512
#include "core/vec_avx512.h"
#include "ops/conv/conv_impl.h"

namespace nervo {
namespace conv {
const Kernels kernels_avx512 = {
    &avx512::conv_impl::direct_fwd<avx512::Vec16f, 2>,
    &avx512::conv_impl::direct_wgt<avx512::Vec16f, 5>,
    32,
};
}  // namespace conv
}  // namespace nervo
