// The GEMM family's per-ISA code, written once over a Vec type (core/vec_*.h) and instantiated by
// gemm_ref.cpp, gemm_avx2.cpp and gemm_avx512.cpp inside their own ISA namespace (NERVO_ISA_NS):
// the register-tiled microkernel with its fused store (alpha, beta, bias, activation) and the FMA
// peak loop.
#pragma once
#include <algorithm>
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

// ---- Skinny products (contract: SkinnyArgs in gemm_kernels.h) ----

// bias and activation over C[i, n0..n1) for the rows i < M (the dots form's epilogue: its results
// come out one scalar at a time, so the vector epilogue runs once over the finished rows).
template <class V>
void skinny_epilogue(const gemm::SkinnyArgs<typename V::value_type>& a) {
  constexpr int W = V::width;
  if (!a.bias && a.act == Act::none) return;
  for (int64_t i = 0; i < a.M; ++i) {
    typename V::value_type* c = a.C + i * a.ldc;
    for (int64_t n = a.n0; n < a.n1; n += W) {
      const int r = static_cast<int>(std::min<int64_t>(W, a.n1 - n));
      V v = r == W ? V::load(c + n) : V::load_partial(c + n, r);
      if (a.bias) v = v + (r == W ? V::load(a.bias + n) : V::load_partial(a.bias + n, r));
      if (a.act != Act::none) v = activate(v, a.act);
      if (r == W) v.store(c + n);
      else v.store_partial(c + n, r);
    }
  }
}

// MB rows of A against NB columns of op(B): MB * NB vector accumulators over k, reduced at the end.
template <class V, int MB, int NB>
__attribute__((always_inline)) inline void dots_block(const gemm::SkinnyArgs<typename V::value_type>& a,
                                                     int64_t m, int64_t n) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  V acc[MB][NB];
#pragma GCC unroll 8
  for (int i = 0; i < MB; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) acc[i][j] = V::zero();
  const T* ar[MB];
  const T* br[NB];
  for (int i = 0; i < MB; ++i) ar[i] = a.A + (m + i) * a.rs_a;
  for (int j = 0; j < NB; ++j) br[j] = a.B + (n + j) * a.cs_b;
  int64_t k = 0;
  for (; k + W <= a.K; k += W) {
    V bv[NB];
#pragma GCC unroll 8
    for (int j = 0; j < NB; ++j) bv[j] = V::load(br[j] + k);
#pragma GCC unroll 8
    for (int i = 0; i < MB; ++i) {
      const V av = V::load(ar[i] + k);
#pragma GCC unroll 8
      for (int j = 0; j < NB; ++j) acc[i][j] = fma(av, bv[j], acc[i][j]);
    }
  }
  if (k < a.K) {
    const int r = static_cast<int>(a.K - k);
    for (int i = 0; i < MB; ++i) {
      const V av = V::load_partial(ar[i] + k, r);
      for (int j = 0; j < NB; ++j) acc[i][j] = fma(av, V::load_partial(br[j] + k, r), acc[i][j]);
    }
  }
  for (int i = 0; i < MB; ++i) {
    T* c = a.C + (m + i) * a.ldc + n;
    for (int j = 0; j < NB; ++j) {
      const T s = a.alpha * reduce_add(acc[i][j]);
      c[j] = a.beta == T(0) ? s : s + a.beta * c[j];
    }
  }
}

template <class V, int MB, int NB>
void dots_rows(const gemm::SkinnyArgs<typename V::value_type>& a, int64_t m) {
  int64_t n = a.n0;
  for (; n + NB <= a.n1; n += NB) dots_block<V, MB, NB>(a, m, n);
  for (; n < a.n1; ++n) dots_block<V, MB, 1>(a, m, n);
}

template <class V>
void skinny_dots(const gemm::SkinnyArgs<typename V::value_type>& a) {
  // One row of A: 8 independent chains (FMA latency x 2 pipes); two rows: 2 x 4.
  int64_t m = 0;
  for (; m + 2 <= a.M; m += 2) dots_rows<V, 2, 4>(a, m);
  if (m < a.M) dots_rows<V, 1, 8>(a, m);
  skinny_epilogue<V>(a);
}

// MB rows of C over the columns [n0, n1), a block of kNBlk columns at a time, accumulated in a
// stack tile (MB x kNBlk, at most 8 KiB: L1) with k as the outer loop: B is streamed row by row,
// four rows of k at a time, so every cache line and page of B is read once, in order (a loop over
// k inside a column tile would jump a whole row of B per k: a new page per k for wide B).
template <class V, int MB>
void rows_block(const gemm::SkinnyArgs<typename V::value_type>& a, int64_t m) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  constexpr int64_t kNBlk = 2048 / sizeof(T);
  alignas(64) T acc[MB][kNBlk];
  const T* Am = a.A + m * a.rs_a;
  for (int64_t nb = a.n0; nb < a.n1; nb += kNBlk) {
    const int64_t nn = std::min<int64_t>(kNBlk, a.n1 - nb);
    const int64_t nfull = nn / W * W;
    const int tail = static_cast<int>(nn - nfull);
    for (int i = 0; i < MB; ++i) std::fill(acc[i], acc[i] + nn, T(0));
    int64_t k = 0;
    for (; k + 4 <= a.K; k += 4) {
      const T* b0 = a.B + k * a.rs_b + nb;
      const T* b1 = b0 + a.rs_b;
      const T* b2 = b1 + a.rs_b;
      const T* b3 = b2 + a.rs_b;
      V av[MB][4];
      for (int i = 0; i < MB; ++i)
        for (int q = 0; q < 4; ++q) av[i][q] = V::set1(Am[i * a.rs_a + (k + q) * a.cs_a]);
      auto step = [&](int64_t n, int r) {
        const V x0 = r == W ? V::load(b0 + n) : V::load_partial(b0 + n, r);
        const V x1 = r == W ? V::load(b1 + n) : V::load_partial(b1 + n, r);
        const V x2 = r == W ? V::load(b2 + n) : V::load_partial(b2 + n, r);
        const V x3 = r == W ? V::load(b3 + n) : V::load_partial(b3 + n, r);
#pragma GCC unroll 4
        for (int i = 0; i < MB; ++i) {
          V c = r == W ? V::load(acc[i] + n) : V::load_partial(acc[i] + n, r);
          c = fma(av[i][0], x0, c);
          c = fma(av[i][1], x1, c);
          c = fma(av[i][2], x2, c);
          c = fma(av[i][3], x3, c);
          if (r == W) c.store(acc[i] + n);
          else c.store_partial(acc[i] + n, r);
        }
      };
      for (int64_t n = 0; n < nfull; n += W) step(n, W);
      if (tail) step(nfull, tail);
    }
    for (; k < a.K; ++k) {
      const T* b0 = a.B + k * a.rs_b + nb;
      for (int i = 0; i < MB; ++i) {
        const V ai = V::set1(Am[i * a.rs_a + k * a.cs_a]);
        for (int64_t n = 0; n < nn; n += W) {
          const int r = static_cast<int>(std::min<int64_t>(W, nn - n));
          V c = r == W ? V::load(acc[i] + n) : V::load_partial(acc[i] + n, r);
          c = fma(ai, r == W ? V::load(b0 + n) : V::load_partial(b0 + n, r), c);
          if (r == W) c.store(acc[i] + n);
          else c.store_partial(acc[i] + n, r);
        }
      }
    }
    // alpha, beta (0: C not read), bias, activation, in one pass over the finished tile.
    const V alpha = V::set1(a.alpha), beta = V::set1(a.beta);
    for (int i = 0; i < MB; ++i) {
      T* c = a.C + (m + i) * a.ldc + nb;
      for (int64_t n = 0; n < nn; n += W) {
        const int r = static_cast<int>(std::min<int64_t>(W, nn - n));
        V v = alpha * (r == W ? V::load(acc[i] + n) : V::load_partial(acc[i] + n, r));
        if (a.beta != T(0)) v = fma(beta, r == W ? V::load(c + n) : V::load_partial(c + n, r), v);
        if (a.bias) v = v + (r == W ? V::load(a.bias + nb + n) : V::load_partial(a.bias + nb + n, r));
        if (a.act != Act::none) v = activate(v, a.act);
        if (r == W) v.store(c + n);
        else v.store_partial(c + n, r);
      }
    }
  }
}

template <class V>
void skinny_rows(const gemm::SkinnyArgs<typename V::value_type>& a) {
  int64_t m = 0;
  for (; m + 4 <= a.M; m += 4) rows_block<V, 4>(a, m);
  switch (a.M - m) {
    case 3: rows_block<V, 3>(a, m); break;
    case 2: rows_block<V, 2>(a, m); break;
    case 1: rows_block<V, 1>(a, m); break;
    default: break;
  }
}

template <class V>
constexpr gemm::SkinnyFn<typename V::value_type> skinny_dots_fn() {
  return &skinny_dots<V>;
}
template <class V>
constexpr gemm::SkinnyFn<typename V::value_type> skinny_rows_fn() {
  return &skinny_rows<V>;
}

#if defined(__AVX2__)
// Transposes the 8 x 8 block r[0..8) in place: afterwards r[c] = (old r[0][c], ..., old r[7][c]).
__attribute__((always_inline)) inline void transpose8x8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Stores the first n < 8 lanes of v (plain stores: masked stores are slow on AMD cores).
__attribute__((always_inline)) inline void store_first(float* d, __m256 v, int n) {
  __m128 lo = _mm256_castps256_ps128(v);
  if (n >= 4) {
    _mm_storeu_ps(d, lo);
    lo = _mm256_extractf128_ps(v, 1);
    d += 4;
    n -= 4;
  }
  if (n >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(d), lo);
    lo = _mm_movehl_ps(lo, lo);
    d += 2;
    n -= 2;
  }
  if (n) _mm_store_ss(d, lo);
}

inline __m256i row_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

// Packs one sliver (the transposing and the generic cases): dst[k * P + r] = src[r * rs + k * cs].
template <class T>
void pack_sliver(T* dst, int P, const T* src, int64_t rs, int64_t cs, int R, int64_t kc) {
  if (R < P) std::fill(dst, dst + kc * P, T(0));
  int64_t k0 = 0;
#if defined(__AVX2__)
  if (std::is_same<T, float>::value && cs == 1) {
    // Rows contiguous in k: 8 k-values of 8 rows per 8 x 8 transpose; a group of fewer than 8
    // rows loads its last row again for the missing ones and stores only its own lanes.
    const float* fsrc = reinterpret_cast<const float*>(src);
    float* fdst = reinterpret_cast<float*>(dst);
    const int64_t kc8 = kc / 8 * 8;
    for (int g = 0; g < R; g += 8) {
      const int rows = std::min(8, R - g);
      const float* p[8];
      for (int i = 0; i < 8; ++i) p[i] = fsrc + (g + std::min(i, rows - 1)) * rs;
      float* d = fdst + g;
      for (int64_t k = 0; k < kc8; k += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(p[i] + k);
        transpose8x8(r);
        if (rows == 8) {
          for (int c = 0; c < 8; ++c) _mm256_storeu_ps(d + (k + c) * P, r[c]);
        } else {
          for (int c = 0; c < 8; ++c) store_first(d + (k + c) * P, r[c], rows);
        }
      }
    }
    k0 = kc8;
  } else if (std::is_same<T, float>::value && rs == 1) {
    // Sliver rows contiguous (A stored transposed): R values per k.
    const float* fsrc = reinterpret_cast<const float*>(src);
    float* fdst = reinterpret_cast<float*>(dst);
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = fsrc + k * cs;
      float* d = fdst + k * P;
      int r = 0;
      for (; r + 8 <= R; r += 8) _mm256_storeu_ps(d + r, _mm256_loadu_ps(s + r));
      if (r < R) store_first(d + r, _mm256_maskload_ps(s + r, row_mask(R - r)), R - r);
    }
    return;
  }
#endif
  if (cs == 1) {
    for (int r = 0; r < R; ++r)
      for (int64_t k = k0; k < kc; ++k) dst[k * P + r] = src[r * rs + k];
  } else {
    for (int64_t k = k0; k < kc; ++k)
      for (int r = 0; r < R; ++r) dst[k * P + r] = src[r * rs + k * cs];
  }
}

// The packing routine of gemm_kernels.h (PackFn): R rows into ceil(R / P) slivers.
template <class T>
void pack(T* dst, int P, const T* src, int64_t rs, int64_t cs, int64_t R, int64_t kc) {
#if defined(__AVX2__)
  if (std::is_same<T, float>::value && rs == 1 && cs != 1 && P % 8 == 0) {
    const int64_t full = R / P;  // slivers without padding
    // Panel rows contiguous (B in row-major order): walk along each source row across all full
    // slivers, so the reads stream through memory instead of striding down the columns.
    const float* fsrc = reinterpret_cast<const float*>(src);
    float* fdst = reinterpret_cast<float*>(dst);
    for (int64_t k = 0; k < kc; ++k) {
      const float* s = fsrc + k * cs;
      for (int64_t q = 0; q < full; ++q)
        for (int v = 0; v < P; v += 8)
          _mm256_storeu_ps(fdst + q * P * kc + k * P + v, _mm256_loadu_ps(s + q * P + v));
    }
    if (full * P < R)
      pack_sliver(dst + full * P * kc, P, src + full * P, rs, cs, static_cast<int>(R - full * P), kc);
    return;
  }
#endif
  for (int64_t q = 0; q * P < R; ++q)
    pack_sliver(dst + q * P * kc, P, src + q * P * rs, rs, cs,
                static_cast<int>(std::min<int64_t>(P, R - q * P)), kc);
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
