// Embedding kernels: row gathers and a row-bucketed scatter-add (plain C++: the work is memory
// movement, which the baseline build does as well as any ISA-specific code).
#include "ops/embed/embed.h"


#include <algorithm>
#include <cstring>
#include <vector>

namespace nervo {
namespace embed {

template <class T>
void forward(const T* weight, const int64_t* idx, T* out, int64_t n, int64_t V, int64_t D) {
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(T);
  // Rows are gathered at random: prefetch the row kAhead indices on (its first lines; the
  // hardware prefetcher follows the rest of a row once it is being read).
  constexpr int64_t kAhead = 4;
  const int64_t pf_lines = std::min<int64_t>(4, (D * int64_t(sizeof(T)) + 63) / 64);
#pragma omp parallel for schedule(static) if (n * D > 65536)
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      const char* nx = reinterpret_cast<const char*>(weight + idx[i + kAhead] * D);
      for (int64_t l = 0; l < pf_lines; ++l) __builtin_prefetch(nx + 64 * l, 0, 0);
    }
    std::memcpy(out + i * D, weight + idx[i] * D, row_bytes);
  }
}

// Backward, bucketed by row: a stable counting sort groups the indices of each weight row (in
// index order), then threads walk contiguous ranges of rows and write each row once, while it
// is in cache: zeros for rows nobody looked up, the first contribution copied and the others
// added for the rest. Compared with "zero the table, then scatter-add", this saves a second
// trip through DRAM for every touched row; the sums are still taken in index order, so the
// result is bitwise the same for any thread count.
template <class T>
void backward(const T* dout, const int64_t* idx, T* dweight, int64_t n, int64_t V, int64_t D,
              int64_t padding_idx, bool accumulate) {
  if (V == 0 || D == 0) return;
  std::vector<int64_t> start(static_cast<size_t>(V) + 1, 0);
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] != padding_idx) ++start[static_cast<size_t>(idx[i]) + 1];
  for (int64_t v = 0; v < V; ++v) start[v + 1] += start[v];
  std::vector<int64_t> order(static_cast<size_t>(start[V]));
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < n; ++i)
      if (idx[i] != padding_idx) order[static_cast<size_t>(fill[idx[i]]++)] = i;
  }
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(T);
  const int64_t* st = start.data();
  const int64_t* ord = order.data();
#pragma omp parallel for schedule(static) if (V * D + n * D > 65536)
  for (int64_t v = 0; v < V; ++v) {
    T* __restrict dst = dweight + v * D;
    int64_t k = st[v];
    const int64_t k1 = st[v + 1];
    if (!accumulate) {
      if (k == k1) {
        std::memset(dst, 0, row_bytes);
        continue;
      }
      std::memcpy(dst, dout + ord[k] * D, row_bytes);
      ++k;
    }
    for (; k < k1; ++k) {
      const T* __restrict src = dout + ord[k] * D;
      for (int64_t c = 0; c < D; ++c) dst[c] += src[c];
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
