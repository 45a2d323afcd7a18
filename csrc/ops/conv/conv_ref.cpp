// Generic level: no direct microkernels; every convolution runs im2col + GEMM (conv.cpp), whose
// GEMM has its own portable kernel.
#include "ops/conv/conv_kernels.h"

#include "core/cpu.h"

namespace nervo {
namespace conv {

const Kernels kernels_ref = {nullptr, nullptr, 0};

const Kernels& kernels() {
  switch (current_isa()) {
    case Isa::avx512: return kernels_avx512();
    case Isa::avx2: return kernels_avx2();
    default: return kernels_ref;
  }
}

}  // namespace conv
}  // namespace nervo
