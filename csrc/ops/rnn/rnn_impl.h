// The fused per-step passes of the recurrent family, written once over a Vec type (core/vec_*.h)
// and instantiated by rnn_ref.cpp / rnn_avx2.cpp / rnn_avx512.cpp inside their ISA namespace.
// Sizes and layouts: see rnn.h (B batch rows, H hidden units; ws rows W = 4H for LSTM/GRU, H for
// RNN). Each row is independent: rows are split across OpenMP threads when the step is large.
#pragma once
#include <algorithm>
#include <cstdint>

#include "ops/rnn/rnn.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace rnn_impl {

using rnn::Mode;
using rnn::StepArgs;

// Below this many gate values per step a second thread costs more than it saves (an OpenMP
// fork/join is a few microseconds; one LSTM gate value costs ~1 ns with AVX2 transcendentals).
constexpr int64_t kParallelMin = 8192;

// Calls f(j, n) over [0, H) in vector-width chunks; n < width only for the tail.
template <class V, class F>
inline void for_lanes(int64_t H, const F& f) {
  constexpr int W = V::width;
  int64_t j = 0;
  for (; j + W <= H; j += W) f(j, W);
  if (j < H) f(j, static_cast<int>(H - j));
}

template <class V>
inline V ld(const typename V::value_type* p, int n) {
  return n == V::width ? V::load(p) : V::load_partial(p, n);
}
template <class V>
inline void st(V v, typename V::value_type* p, int n) {
  if (n == V::width) v.store(p); else v.store_partial(p, n);
}

template <class T>
inline bool active(const StepArgs<T>& a, int64_t b) {
  return a.lengths == nullptr || a.t < a.lengths[b];
}

template <class V>
void row_forward(const StepArgs<typename V::value_type>& a, int64_t b) {
  using T = typename V::value_type;
  const int64_t H = a.H;
  const T* hp = a.h_prev + b * H;
  T* h = a.h + b * H;
  if (!active(a, b)) {  // padded step: the state is carried unchanged
    std::copy(hp, hp + H, h);
    if (a.mode == Mode::lstm) std::copy(a.c_prev + b * H, a.c_prev + b * H + H, a.c + b * H);
    return;
  }
  switch (a.mode) {
    case Mode::lstm: {
      T* g = a.ws_t + b * 4 * H;
      const T* cp = a.c_prev + b * H;
      T* c = a.c + b * H;
      for_lanes<V>(H, [&](int64_t j, int n) {
        V gi = vm::sigmoid(ld<V>(g + j, n));
        V gf = vm::sigmoid(ld<V>(g + H + j, n));
        V gg = vm::tanh(ld<V>(g + 2 * H + j, n));
        V go = vm::sigmoid(ld<V>(g + 3 * H + j, n));
        V cn = fma(gf, ld<V>(cp + j, n), gi * gg);
        st(gi, g + j, n); st(gf, g + H + j, n); st(gg, g + 2 * H + j, n); st(go, g + 3 * H + j, n);
        st(cn, c + j, n);
        st(go * vm::tanh(cn), h + j, n);
      });
      break;
    }
    case Mode::gru: {
      T* g = a.ws_t + b * 4 * H;
      const T* gh = a.gh + b * 3 * H;
      for_lanes<V>(H, [&](int64_t j, int n) {
        V r = vm::sigmoid(ld<V>(g + j, n) + ld<V>(gh + j, n));
        V z = vm::sigmoid(ld<V>(g + H + j, n) + ld<V>(gh + H + j, n));
        V hn = ld<V>(gh + 2 * H + j, n);
        V nn = vm::tanh(fma(r, hn, ld<V>(g + 2 * H + j, n)));
        st(r, g + j, n); st(z, g + H + j, n); st(nn, g + 2 * H + j, n); st(hn, g + 3 * H + j, n);
        // (1 - z) n + z h_prev = n + z (h_prev - n)
        st(fma(z, ld<V>(hp + j, n) - nn, nn), h + j, n);
      });
      break;
    }
    case Mode::rnn_tanh: {
      const T* g = a.ws_t + b * H;
      for_lanes<V>(H, [&](int64_t j, int n) { st(vm::tanh(ld<V>(g + j, n)), h + j, n); });
      break;
    }
    case Mode::rnn_relu: {
      const T* g = a.ws_t + b * H;
      for_lanes<V>(H, [&](int64_t j, int n) { st(max(V::zero(), ld<V>(g + j, n)), h + j, n); });
      break;
    }
  }
}

template <class V>
void row_backward(const StepArgs<typename V::value_type>& a, int64_t b) {
  using T = typename V::value_type;
  const int64_t H = a.H;
  const int64_t DW = a.mode == Mode::lstm || a.mode == Mode::gru ? 4 * H : H;
  const T* dhi = a.dh_in + b * H;
  T* dh = a.dh_io + b * H;
  T* dg = a.dg_t + b * DW;
  const V one = V::set1(T(1));
  if (!active(a, b)) {  // identity step: gradients pass through, gates get none
    for_lanes<V>(H, [&](int64_t j, int n) { st(ld<V>(dhi + j, n) + ld<V>(dh + j, n), dh + j, n); });
    std::fill(dg, dg + DW, T(0));
    return;
  }
  switch (a.mode) {
    case Mode::lstm: {
      const T* g = a.ws_t + b * 4 * H;
      const T* c = a.c + b * H;
      const T* cp = a.c_prev + b * H;
      T* dc = a.dc_io + b * H;
      for_lanes<V>(H, [&](int64_t j, int n) {
        V d = ld<V>(dhi + j, n) + ld<V>(dh + j, n);
        V gi = ld<V>(g + j, n), gf = ld<V>(g + H + j, n);
        V gg = ld<V>(g + 2 * H + j, n), go = ld<V>(g + 3 * H + j, n);
        V tc = vm::tanh(ld<V>(c + j, n));
        V dcv = fma(d * go, one - tc * tc, ld<V>(dc + j, n));
        st(dcv * gg * gi * (one - gi), dg + j, n);
        st(dcv * ld<V>(cp + j, n) * gf * (one - gf), dg + H + j, n);
        st(dcv * gi * (one - gg * gg), dg + 2 * H + j, n);
        st(d * tc * go * (one - go), dg + 3 * H + j, n);
        st(dcv * gf, dc + j, n);
        st(V::zero(), dh + j, n);
      });
      break;
    }
    case Mode::gru: {
      const T* g = a.ws_t + b * 4 * H;
      const T* hp = a.h_prev + b * H;
      for_lanes<V>(H, [&](int64_t j, int n) {
        V d = ld<V>(dhi + j, n) + ld<V>(dh + j, n);
        V r = ld<V>(g + j, n), z = ld<V>(g + H + j, n);
        V nn = ld<V>(g + 2 * H + j, n), hn = ld<V>(g + 3 * H + j, n);
        V dna = d * (one - z) * (one - nn * nn);
        st(dna * hn * r * (one - r), dg + j, n);
        st(d * (ld<V>(hp + j, n) - nn) * z * (one - z), dg + H + j, n);
        st(dna * r, dg + 2 * H + j, n);
        st(dna, dg + 3 * H + j, n);
        st(d * z, dh + j, n);
      });
      break;
    }
    case Mode::rnn_tanh: {
      const T* h = a.h + b * H;
      for_lanes<V>(H, [&](int64_t j, int n) {
        V d = ld<V>(dhi + j, n) + ld<V>(dh + j, n);
        V y = ld<V>(h + j, n);
        st(d * (one - y * y), dg + j, n);
        st(V::zero(), dh + j, n);
      });
      break;
    }
    case Mode::rnn_relu: {
      const T* h = a.h + b * H;
      for_lanes<V>(H, [&](int64_t j, int n) {
        V d = ld<V>(dhi + j, n) + ld<V>(dh + j, n);
        st(select(ld<V>(h + j, n) > V::zero(), d, V::zero()), dg + j, n);
        st(V::zero(), dh + j, n);
      });
      break;
    }
  }
}

template <class V>
void cell_forward(const StepArgs<typename V::value_type>& a) {
  const bool par = a.B * a.H * rnn::gates(a.mode) >= kParallelMin;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t b = 0; b < a.B; ++b) row_forward<V>(a, b);
}

template <class V>
void cell_backward(const StepArgs<typename V::value_type>& a) {
  const bool par = a.B * a.H * rnn::gates(a.mode) >= kParallelMin;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t b = 0; b < a.B; ++b) row_backward<V>(a, b);
}

// One MR x (2 * width) tile of the recurrent product (register map: 2*MR accumulators, two B
// vectors, one broadcast of A: 15 of AVX2's 16 ymm registers at MR = 6).
template <class V, int MR>
inline void rec_tile(int64_t K, const typename V::value_type* A, int64_t lda,
                     const typename V::value_type* bp, int nvalid, bool accumulate,
                     const typename V::value_type* bias, typename V::value_type* C, int64_t ldc) {
  constexpr int W = V::width;
  V c0[MR], c1[MR];
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = V::zero();
  for (int64_t k = 0; k < K; ++k) {
    const V b0 = V::load(bp + k * 2 * W), b1 = V::load(bp + k * 2 * W + W);
    for (int r = 0; r < MR; ++r) {
      const V a = V::set1(A[r * lda + k]);
      c0[r] = fma(a, b0, c0[r]);
      c1[r] = fma(a, b1, c1[r]);
    }
  }
  const int n0 = nvalid < W ? nvalid : W;
  const int n1 = nvalid - n0;
  V vb0 = V::zero(), vb1 = V::zero();
  if (bias) {
    vb0 = ld<V>(bias, n0);
    if (n1 > 0) vb1 = ld<V>(bias + W, n1);
  }
  for (int r = 0; r < MR; ++r) {
    auto* c = C + r * ldc;
    V v0 = c0[r] + vb0, v1 = c1[r] + vb1;
    if (accumulate) {
      v0 = v0 + ld<V>(c, n0);
      if (n1 > 0) v1 = v1 + ld<V>(c + W, n1);
    }
    st(v0, c, n0);
    if (n1 > 0) st(v1, c + W, n1);
  }
}

// Rows per tile: 6 (see rec_tile's register map).
constexpr int kRecMR = 6;

template <class V>
void rec_gemm(int64_t M, int64_t N, int64_t K, const typename V::value_type* A, int64_t lda,
              const typename V::value_type* Bp, bool accumulate,
              const typename V::value_type* bias, typename V::value_type* C, int64_t ldc) {
  constexpr int64_t NR = 2 * V::width;
  const int64_t np = (N + NR - 1) / NR;
  // ~64K FMAs amortize an OpenMP fork/join (a few microseconds).
  const bool par = M * N * K >= 65536 && np > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t p = 0; p < np; ++p) {
    const auto* bp = Bp + p * K * NR;
    const int nvalid = static_cast<int>(std::min(NR, N - p * NR));
    const auto* bb = bias ? bias + p * NR : nullptr;
    for (int64_t i0 = 0; i0 < M; i0 += kRecMR) {
      const auto* a = A + i0 * lda;
      auto* c = C + i0 * ldc + p * NR;
      switch (std::min<int64_t>(kRecMR, M - i0)) {
        case 6: rec_tile<V, 6>(K, a, lda, bp, nvalid, accumulate, bb, c, ldc); break;
        case 5: rec_tile<V, 5>(K, a, lda, bp, nvalid, accumulate, bb, c, ldc); break;
        case 4: rec_tile<V, 4>(K, a, lda, bp, nvalid, accumulate, bb, c, ldc); break;
        case 3: rec_tile<V, 3>(K, a, lda, bp, nvalid, accumulate, bb, c, ldc); break;
        case 2: rec_tile<V, 2>(K, a, lda, bp, nvalid, accumulate, bb, c, ldc); break;
        default: rec_tile<V, 1>(K, a, lda, bp, nvalid, accumulate, bb, c, ldc); break;
      }
    }
  }
}

}  // namespace rnn_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
