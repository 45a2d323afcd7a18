// Embedding kernels: row copies and a column-split scatter-add (plain C++: the work is memory
// movement, which the baseline build does as well as any ISA-specific code).
#include "ops/embed/embed.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace nervo {
namespace embed {

template <class T>
void forward(const T* weight, const int64_t* idx, T* out, int64_t n, int64_t V, int64_t D) {
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(T);
#pragma omp parallel for schedule(static) if (n * D > 65536)
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * D, weight + idx[i] * D, row_bytes);
}

// Columns per backward task: 64 floats (256 bytes, four cache lines) keep each row segment whole
// lines, and D = 256 still gives four tasks for two threads.
constexpr int64_t kColBlock = 64;

template <class T>
void backward(const T* dout, const int64_t* idx, T* dweight, int64_t n, int64_t V, int64_t D,
              int64_t padding_idx, bool accumulate) {
  if (!accumulate) {
    const int64_t total = V * D;
    const int64_t chunk = 1 << 16;
    const int64_t nchunks = (total + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t lo = c * chunk, hi = std::min(total, lo + chunk);
      std::memset(dweight + lo, 0, static_cast<size_t>(hi - lo) * sizeof(T));
    }
  }
  if (n == 0 || D == 0) return;
  const int64_t nt = omp_get_max_threads();
  // At least one block per thread when D allows, at most kColBlock columns per block.
  int64_t nblk = std::max<int64_t>((D + kColBlock - 1) / kColBlock, std::min<int64_t>(nt, D / 8));
  nblk = std::max<int64_t>(1, std::min(nblk, D));
  const int64_t bw = (D + nblk - 1) / nblk;
  nblk = (D + bw - 1) / bw;
#pragma omp parallel for schedule(static) if (nblk > 1 && n * D > 65536)
  for (int64_t b = 0; b < nblk; ++b) {
    const int64_t c0 = b * bw, c1 = std::min(D, c0 + bw);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = idx[i];
      if (v == padding_idx) continue;
      T* __restrict dst = dweight + v * D;
      const T* __restrict src = dout + i * D;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

template void forward<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t);
template void forward<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t);
template void backward<float>(const float*, const int64_t*, float*, int64_t, int64_t, int64_t,
                              int64_t, bool);
template void backward<double>(const double*, const int64_t*, double*, int64_t, int64_t, int64_t,
                               int64_t, bool);

}  // namespace embed
}  // namespace nervo
