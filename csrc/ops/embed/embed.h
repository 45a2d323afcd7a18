// Embedding lookup and its backward (scatter-add of rows).
//
// Sizes: V rows (num_embeddings) of D columns in the table; n indices.
//   forward:  out[i, :] = weight[idx[i], :]                                   (overwrites out)
//   backward: dweight[v, :] (+)= sum over i with idx[i] == v of dout[i, :], rows equal to
//             padding_idx get no gradient; `accumulate` false overwrites dweight (zeroed first).
// Indices must lie in [0, V) (checked by the caller). The backward groups the indices by row
// (stable counting sort) and splits the rows across threads: no atomics, each row written once,
// and every sum is taken in index order whatever the thread count (bitwise deterministic,
// repeated indices correct).
#pragma once
#include <cstdint>

namespace nervo {
namespace embed {

template <class T>
void forward(const T* weight, const int64_t* idx, T* out, int64_t n, int64_t V, int64_t D);

template <class T>
void backward(const T* dout, const int64_t* idx, T* dweight, int64_t n, int64_t V, int64_t D,
              int64_t padding_idx, bool accumulate);

}  // namespace embed
}  // namespace nervo
