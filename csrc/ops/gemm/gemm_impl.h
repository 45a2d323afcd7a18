// The GEMM family's per-ISA code, written once over a Vec type (core/vec_*.h) and instantiated by
// gemm_ref.cpp, gemm_avx2.cpp and gemm_avx512.cpp inside their own ISA namespace (NERVO_ISA_NS):
// the register-tiled microkernel with its fused store (alpha, beta, bias, activation) and the FMA
// peak loop.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ops/gemm/gemm_kernels.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace gemm_impl {

using gemm::Act;
using gemm::TileStore;

// The epilogue's activations, as in the activation family (csrc/ops/act/act_impl.h).
template <class V>
inline V activate(V x, Act act) {
  using T = typename V::value_type;
  if constexpr (V::width == 1 && std::is_same<T, double>::value) {
    // float64 (the gradient-check precision): the C library's functions, correctly rounded or
    // nearly so, rather than vmath's float32-grade polynomials.
    const T v = x.v;
    switch (act) {
      case Act::relu: return {v < T(0) ? T(0) : v};
      case Act::gelu: return {v * T(0.5) * std::erfc(-v * T(0.70710678118654752))};
      case Act::sigmoid: return {v >= 0 ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v))};
      case Act::tanh: return {std::tanh(v)};
      default: return x;
    }
  } else {
    switch (act) {
      case Act::relu: return max(V::zero(), x);  // max returns x when x is NaN
      case Act::gelu: {
        // x * Phi(x), Phi from erfc of |x| / sqrt(2) so the x < 0 tail keeps its precision.
        V e = V::set1(T(0.5)) * vm::erfc_pos(abs(x) * V::set1(T(0.70710678118654752)));
        V cdf = select(x < V::zero(), e, V::set1(T(1.0)) - e);
        return select(isnan(x), x, x * cdf);
      }
      case Act::sigmoid: return vm::sigmoid(x);
      case Act::tanh: return vm::tanh(x);
      default: return x;
    }
  }
}

// C tile = alpha * AB + beta * C (+ bias, activation): the fused store of every microkernel.
template <class V, int MR, int NV>
__attribute__((always_inline)) inline void store_tile(V (&acc)[MR][NV], typename V::value_type* c, int64_t ldc,
                       const TileStore<typename V::value_type>& st) {
  constexpr int W = V::width;
  const V alpha = V::set1(st.alpha);
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = acc[i][v] * alpha;
  if (st.beta != 0) {
    const V beta = V::set1(st.beta);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = fma(beta, V::load(c + i * ldc + v * W), acc[i][v]);
  }
  if (st.bias) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const V bv = V::load(st.bias + v * W);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) acc[i][v] = acc[i][v] + bv;
    }
  }
  if (st.act != Act::none) {
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = activate(acc[i][v], st.act);
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v].store(c + i * ldc + v * W);
}

// The microkernel: an MR x (NV * width) tile of C held in MR * NV vector registers.
// Per k: NV vector loads of b, MR broadcasts of a, MR * NV FMAs. Contract: gemm_kernels.h.
// kPackedA: a is a packed sliver (element (i, k) at a[k * MR + i]), else read with rs_a/cs_a.
template <class V, int MR, int NV, bool kPackedA>
void ukernel(int64_t kc, const typename V::value_type* a, int64_t rs_a, int64_t cs_a,
             const typename V::value_type* b, int64_t rs_b, typename V::value_type* c, int64_t ldc,
             const TileStore<typename V::value_type>& st) {
  constexpr int W = V::width;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  for (int i = 0; i < MR; ++i) __builtin_prefetch(c + i * ldc, 1, 3);
  const int64_t step_a = kPackedA ? MR : cs_a;
  const int64_t row_a = kPackedA ? 1 : rs_a;
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    V bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V ai = V::set1(a[i * row_a]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = fma(ai, bv[v], acc[i][v]);
    }
    a += step_a;
    b += rs_b;
  }
  store_tile<V, MR, NV>(acc, c, ldc, st);
}

template <class V, int MR, int NV>
constexpr gemm::UkernelFn<typename V::value_type> ukernel_packed() {
  return &ukernel<V, MR, NV, true>;
}

template <class V, int MR, int NV>
constexpr gemm::UkernelFn<typename V::value_type> ukernel_strided() {
  return &ukernel<V, MR, NV, false>;
}

// FMA throughput: 12 independent accumulator chains cover FMA latency (4 cycles) x 2 pipes with
// room to spare, and all stay in registers (12 of 16 ymm / 32 zmm). The multiplier and addend keep
// the values bounded (x -> 0.999999 x + 1e-6 converges to 1), so no denormals or infinities slow it.
template <class V>
double fma_loop(int64_t iters) {
  using T = typename V::value_type;
  const V m = V::set1(T(0.999999)), c = V::set1(T(1e-6));
  V a0 = V::set1(T(0.1)), a1 = V::set1(T(0.2)), a2 = V::set1(T(0.3)), a3 = V::set1(T(0.4));
  V a4 = V::set1(T(0.5)), a5 = V::set1(T(0.6)), a6 = V::set1(T(0.7)), a7 = V::set1(T(0.8));
  V a8 = V::set1(T(0.9)), a9 = V::set1(T(1.1)), a10 = V::set1(T(1.2)), a11 = V::set1(T(1.3));
  for (int64_t i = 0; i < iters; ++i) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);
    a8 = fma(a8, m, c); a9 = fma(a9, m, c); a10 = fma(a10, m, c); a11 = fma(a11, m, c);
  }
  V s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
  T out[V::width];
  s.store(out);
  volatile T sink = out[0];  // keeps the loop from being optimized away
  (void)sink;
  return 2.0 * 12.0 * V::width * static_cast<double>(iters);
}

}  // namespace gemm_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
