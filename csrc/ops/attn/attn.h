// Fused scaled-dot-product attention (flash-attention style), forward and backward.
//
// Sizes: B (batch), N (heads), L (query length), S (key/value length), E (q/k head dim),
// Ev (v head dim). C-contiguous: q (B, N, L, E), k (B, N, S, E), v (B, N, S, Ev),
// out (B, N, L, Ev), lse (B, N, L).
//   scores[i, j] = scale * q_i . k_j + mask[i, j]   (-inf where causal and j > i: torch's
//   top-left aligned is_causal), P = softmax_j(scores), out_i = sum_j drop(P)[i, j] v_j.
// mask: additive, shape (mB, mN, mL, mS) with each dim 1 (broadcast) or full, or nullptr.
//   Boolean masks are turned into 0 / -inf by the caller.
// Forward overwrites out and lse (log-sum-exp of each score row, saved for backward). Keys are
// visited in blocks of kBlockS with an online softmax: at most kBlockL x kBlockS scores exist at
// once per thread. A row whose scores are all -inf (fully masked) gets out = 0 and lse = +inf,
// which makes every P of that row exactly 0 in backward: no NaN reaches any gradient.
// Dropout (dropout_p > 0): keep(b, n, i, j) from a counter-based hash of (seed, element index),
// kept values scaled by 1 / (1 - p): identical in forward and backward, on any thread count.
// Backward overwrites dq, dk, dv from q, k, v, out, lse, dout (recomputing the scores blockwise).
// Threads: forward over (b, n, query block), backward over (b, n).
#pragma once
#include <cstdint>

namespace nervo {
namespace attn {

// Block sizes: a kBlockL x kBlockS score tile (8 KiB float32) plus the packed K^T / V^T tiles
// (E x kBlockS) and the output accumulator (kBlockL x Ev) stay in L1 (48 KiB) for head dims up
// to 64; kBlockS = 64 is 8 AVX2 / 4 AVX-512 accumulators per score row.
constexpr int64_t kBlockL = 32;
constexpr int64_t kBlockS = 64;

template <class T>
struct Args {
  int64_t B, N, L, S, E, Ev;
  const T* q;
  const T* k;
  const T* v;
  const T* mask;  // nullptr: none
  int64_t mB, mN, mL, mS;
  bool causal;
  double scale;
  double dropout_p;
  uint64_t seed;
};

template <class T>
using ForwardFn = void (*)(const Args<T>& a, T* out, T* lse);
template <class T>
using BackwardFn = void (*)(const Args<T>& a, const T* out, const T* lse, const T* dout, T* dq,
                            T* dk, T* dv);

struct Kernels {
  ForwardFn<float> forward_f32;
  BackwardFn<float> backward_f32;
  ForwardFn<double> forward_f64;
  BackwardFn<double> backward_f64;
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call
const Kernels& kernels();

// The dropout decision, shared by every ISA level and mirrored by the numba backend:
// splitmix64(seed + idx * golden) >> 40 (24 uniform bits) < p * 2^24 -> dropped.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline bool dropped(uint64_t seed, uint64_t idx, uint64_t threshold24) {
  return (mix64(seed + idx * 0x9e3779b97f4a7c15ULL) >> 40) < threshold24;
}

}  // namespace attn
}  // namespace nervo
