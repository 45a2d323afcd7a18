// The fused per-step passes of the recurrent family, written once over a Vec type (core/vec_*.h)
// and instantiated by rnn_ref.cpp / rnn_avx2.cpp / rnn_avx512.cpp inside their ISA namespace.
// Sizes and layouts: see rnn.h (B batch rows, H hidden units; ws rows W = 4H for LSTM/GRU, H for
// RNN). Each row is independent: rows are split across OpenMP threads when the step is large.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

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

// Gate nonlinearities. float32 SIMD uses one exp each with no branch blend: sigmoid(x) =
// 1 / (1 + exp(-x)) and tanh(x) = 2 sigmoid(2x) - 1 on x clamped to [-87, 87] (exp stays finite;
// the clamped values are within an ulp of 0 / 1). Errors: sigmoid ~2 ulp; tanh ~1e-7 absolute
// (not relative near 0: a gate only ever adds or multiplies it, so absolute error is what counts).
// vm::sigmoid / vm::tanh cost about twice as much (exact small-|x| branches, two-factor 2^n
// scaling), and the gate math is ~10% of an LSTM step. NaN propagates: max/min return their
// second operand for NaN, and every path below keeps a NaN. float64 and the one-lane generic
// Vec use vm:: (exact, libm for double).
template <class V>
inline V exp_clamped(V x) {  // exp(x) for x in [-87, 87] (no range or NaN checks of its own)
  using T = typename V::value_type;
  V n = round_even(x * V::set1(T(1.44269504088896341)));
  V r = fma(n, V::set1(T(-0.693359375)), x);  // ln2 split in two (Cody-Waite)
  r = fma(n, V::set1(T(2.12194440e-4)), r);
  // Taylor through r^6: |r| <= ln2/2 gives a truncation error below 1.1e-7 relative.
  V p = V::set1(T(1.0 / 720));
  p = fma(p, r, V::set1(T(1.0 / 120)));
  p = fma(p, r, V::set1(T(1.0 / 24)));
  p = fma(p, r, V::set1(T(1.0 / 6)));
  p = fma(p, r, V::set1(T(0.5)));
  p = fma(p, r, V::set1(T(1.0)));
  p = fma(p, r, V::set1(T(1.0)));
  return p * pow2n(n);  // n in [-126, 126]: 2^n is a normal float
}

template <class V>
inline constexpr bool kFastGates = std::is_same_v<typename V::value_type, float> && (V::width > 1);

template <class V>
inline V gate_sigmoid(V x) {
  using T = typename V::value_type;
  if constexpr (kFastGates<V>) {
    const V lim = V::set1(T(87));
    V xc = min(lim, max(-lim, x));  // NaN stays NaN (second operand)
    V one = V::set1(T(1));
    return one / (one + exp_clamped(-xc));
  } else {
    return vm::sigmoid(x);
  }
}

template <class V>
inline V gate_tanh(V x) {
  using T = typename V::value_type;
  if constexpr (kFastGates<V>) {
    const V lim = V::set1(T(43.5));
    V xc = min(lim, max(-lim, x));
    V one = V::set1(T(1));
    return V::set1(T(2)) / (one + exp_clamped(xc * V::set1(T(-2)))) - one;
  } else {
    return vm::tanh(x);
  }
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
        V gi = gate_sigmoid(ld<V>(g + j, n));
        V gf = gate_sigmoid(ld<V>(g + H + j, n));
        V gg = gate_tanh(ld<V>(g + 2 * H + j, n));
        V go = gate_sigmoid(ld<V>(g + 3 * H + j, n));
        V cn = fma(gf, ld<V>(cp + j, n), gi * gg);
        st(gi, g + j, n); st(gf, g + H + j, n); st(gg, g + 2 * H + j, n); st(go, g + 3 * H + j, n);
        st(cn, c + j, n);
        st(go * gate_tanh(cn), h + j, n);
      });
      break;
    }
    case Mode::gru: {
      T* g = a.ws_t + b * 4 * H;
      const T* gh = a.gh + b * 3 * H;
      for_lanes<V>(H, [&](int64_t j, int n) {
        V r = gate_sigmoid(ld<V>(g + j, n) + ld<V>(gh + j, n));
        V z = gate_sigmoid(ld<V>(g + H + j, n) + ld<V>(gh + H + j, n));
        V hn = ld<V>(gh + 2 * H + j, n);
        V nn = gate_tanh(fma(r, hn, ld<V>(g + 2 * H + j, n)));
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
        V tc = gate_tanh(ld<V>(c + j, n));
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

// One MR x (NV * width) tile of the recurrent product: MR * NV accumulators, NV B vectors and one
// broadcast of A live in registers (AVX2, 16 ymm: MR = 6, NV = 2 uses 15; MR = 4, NV = 3 uses 16).
template <class V, int MR, int NV>
inline void rec_tile(int64_t K, const typename V::value_type* A, int64_t lda,
                     const typename V::value_type* bp, int nvalid, bool accumulate,
                     const typename V::value_type* bias, typename V::value_type* C, int64_t ldc) {
  constexpr int W = V::width;
  V acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  for (int64_t k = 0; k < K; ++k) {
    V b[NV];
    for (int v = 0; v < NV; ++v) b[v] = V::load(bp + (k * NV + v) * W);
    for (int r = 0; r < MR; ++r) {
      const V a = V::set1(A[r * lda + k]);
      for (int v = 0; v < NV; ++v) acc[r][v] = fma(a, b[v], acc[r][v]);
    }
  }
  int cnt[NV];  // valid columns of each vector of the tile
  V vb[NV];
  for (int v = 0; v < NV; ++v) {
    cnt[v] = std::max(0, std::min(W, nvalid - v * W));
    vb[v] = bias && cnt[v] > 0 ? ld<V>(bias + v * W, cnt[v]) : V::zero();
  }
  for (int r = 0; r < MR; ++r) {
    auto* c = C + r * ldc;
    for (int v = 0; v < NV; ++v) {
      if (cnt[v] == 0) continue;
      V out = acc[r][v] + vb[v];
      if (accumulate) out = out + ld<V>(c + v * W, cnt[v]);
      st(out, c + v * W, cnt[v]);
    }
  }
}

// Runs the tile of `rows` rows (1 <= rows <= MR), a compile-time height for each.
template <class V, int MR, int NV>
inline void rec_tile_rows(int rows, int64_t K, const typename V::value_type* A, int64_t lda,
                          const typename V::value_type* bp, int nvalid, bool accumulate,
                          const typename V::value_type* bias, typename V::value_type* C,
                          int64_t ldc) {
  if constexpr (MR > 1) {
    if (rows < MR) {
      rec_tile_rows<V, MR - 1, NV>(rows, K, A, lda, bp, nvalid, accumulate, bias, C, ldc);
      return;
    }
  }
  rec_tile<V, MR, NV>(K, A, lda, bp, nvalid, accumulate, bias, C, ldc);
}

// rec_gemm (rnn.h's RecGemmFn) with MR x (NV * width) tiles; panels are NR = NV * width wide.
template <class V, int MR, int NV>
void rec_gemm(int64_t M, int64_t N, int64_t K, const typename V::value_type* A, int64_t lda,
              const typename V::value_type* Bp, bool accumulate,
              const typename V::value_type* bias, typename V::value_type* C, int64_t ldc) {
  constexpr int64_t NR = NV * V::width;
  const int64_t np = (N + NR - 1) / NR;
  // ~64K FMAs amortize an OpenMP fork/join (a few microseconds).
  const bool par = M * N * K >= 65536 && np > 1;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t p = 0; p < np; ++p) {
    const auto* bp = Bp + p * K * NR;
    const int nvalid = static_cast<int>(std::min(NR, N - p * NR));
    const auto* bb = bias ? bias + p * NR : nullptr;
    // Rows in tiles whose heights differ by at most one (MR = 6, M = 32: 6 6 5 5 5 5, not
    // 6 6 6 6 6 2): a tile of 1-3 rows has too few accumulators to cover the FMA latency and
    // runs at about half rate (measured: M = 32 at 85 GFLOP/s, M = 30 at 90, AVX2 one thread).
    const int64_t ntiles = (M + MR - 1) / MR;
    const int64_t base = ntiles ? M / ntiles : 0, extra = ntiles ? M % ntiles : 0;
    for (int64_t t = 0; t < ntiles; ++t) {
      const int64_t i0 = t * base + std::min(t, extra);
      const int rows = static_cast<int>(base + (t < extra ? 1 : 0));
      rec_tile_rows<V, MR, NV>(rows, K, A + i0 * lda, lda, bp, nvalid, accumulate, bb,
                               C + i0 * ldc + p * NR, ldc);
    }
  }
}

}  // namespace rnn_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
