// Generic row passes of the normalization family (one-lane Vec; float32 and float64), and the
// dispatch to the current ISA level's table.
#include <cstdint>
#define NERVO_ISA_NS ref
#include "core/cpu.h"
#include "core/vec_ref.h"
#include "ops/norm/norm_impl.h"

namespace nervo {
namespace norm {

const RowKernels<double> rows_f64_ref = ref::norm_impl::row_table<ref::VecS<double>>();
const Kernels kernels_ref = {ref::norm_impl::row_table<ref::VecS<float>>(), &rows_f64_ref};

const Kernels& kernels() {
  switch (current_isa()) {
    case Isa::avx512: return kernels_avx512();
    case Isa::avx2: return kernels_avx2();
    default: return kernels_ref;
  }
}

}  // namespace norm
}  // namespace nervo
