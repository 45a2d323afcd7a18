// Dispatch for the activation family: picks the table of the current ISA level.
#include "ops/act/act.h"

#include "core/cpu.h"

namespace nervo {
namespace act {

const Kernels& kernels() {
  switch (current_isa()) {
    case Isa::avx512: return kernels_avx512();
    case Isa::avx2: return kernels_avx2();
    default: return kernels_ref;
  }
}

}  // namespace act
}  // namespace nervo
