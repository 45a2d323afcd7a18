// Dropout apply, written once in plain C++ and compiled per ISA (dropout_{ref,avx2,avx512}.cpp):
// the per-block Philox rounds are independent 32x32->64 multiplies the compiler schedules well;
// blocks are split across threads by fixed index ranges, so results never depend on threads.
#pragma once
#include <algorithm>
#include <cstdint>

#include "ops/dropout/dropout.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace dropout_impl {

constexpr int64_t kChunk = 16384;  // elements per task (multiple of 4)

template <class T>
void apply(const T* in, T* out, int64_t n, double p, uint64_t seed, uint64_t offset) {
  const uint64_t thr = dropout::threshold(p);
  const T scale = static_cast<T>(1.0 / (1.0 - p));
  const uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
    int64_t i = lo;
    while (i < hi) {
      const uint64_t e = offset + uint64_t(i);
      const uint64_t block = e >> 2;
      const dropout::Philox r = dropout::philox4x32_10(uint32_t(block), uint32_t(block >> 32), k0, k1);
      for (int lane = int(e & 3); lane < 4 && i < hi; ++lane, ++i)
        out[i] = uint64_t(r.out[lane]) >= thr ? in[i] * scale : T(0);
    }
  }
}

}  // namespace dropout_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
