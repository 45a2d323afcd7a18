// The per-ISA pieces of the GEMM family, one table per ISA level, each defined in its own
// translation unit (gemm_ref.cpp, gemm_avx2.cpp, gemm_avx512.cpp): the register-tiled microkernels
// with their tile and cache-block sizes, and the FMA peak loop. Blocking, packing, threading and
// edge tiles live once in gemm.cpp.
//
// Sizes: MR x NR is the microkernel's tile of C; kc the length of the dot products it runs (one
// KC block of K). MC, KC, NC are the cache blocks (see the table in gemm_avx2.cpp).
#pragma once
#include <cstdint>

#include "ops/gemm/gemm.h"

namespace nervo {
namespace gemm {

// How a microkernel writes its tile: C = alpha * AB + beta * C (beta == 0: C is not read), then,
// when this is the last K block, + bias[0..NR) and the activation.
template <class T>
struct TileStore {
  T alpha;
  T beta;
  const T* bias;  // NR entries for this tile's columns, or nullptr
  Act act;        // Act::none except on the last K block
};

// One MR x NR tile: AB = sum over k < kc of a(:, k) * b(k, :), then stored per TileStore into
// c[i * ldc + j] (i < MR, j < NR: the full tile, always; the framework gives edge tiles a
// scratch tile).
//   a: either packed (element (i, k) at a[k * MR + i]; rs_a and cs_a are ignored) or strided
//      (element (i, k) at a[i * rs_a + k * cs_a]), depending on the table entry.
//   b: rows of NR contiguous elements, row k at b + k * rs_b (rs_b = NR when packed).
template <class T>
using UkernelFn = void (*)(int64_t kc, const T* a, int64_t rs_a, int64_t cs_a, const T* b,
                           int64_t rs_b, T* c, int64_t ldc, const TileStore<T>& st);

// Packs R rows of a panel for the microkernel into ceil(R / P) slivers: row r = q * P + p, p < P,
// goes to sliver q, dst[q * P * kc + k * P + p] = src[r * rs + k * cs] for k < kc; the last
// sliver's missing rows are zeros. The same operation packs an A block (rows of A, P = MR) and a
// B panel (columns of B, P = NR); it is vectorized when cs == 1 (8 x 8 transposes) or rs == 1
// (row copies along the whole panel).
template <class T>
using PackFn = void (*)(T* dst, int P, const T* src, int64_t rs, int64_t cs, int64_t R, int64_t kc);

// Skinny products (few rows of C, see gemm.cpp): C[0..M, n0..n1) of the contract, computed with
// no packing at all. Two forms, chosen by the caller from the strides:
//   dots  (rs_b == 1 and cs_a == 1): op(B)'s columns and A's rows are contiguous in k (x @ W.T
//         with W row-major, a Linear layer's forward): vector dot products, W read once per
//         pair of rows of A;
//   rows  (cs_b == 1): op(B)'s rows are contiguous in n: register tiles of up to 4 rows of C
//         accumulate broadcast a(i, k) times rows of B, B read once per 4 rows of A.
// Both apply alpha, beta (0: C not read), bias[n] and the activation.
template <class T>
struct SkinnyArgs {
  int64_t M, n0, n1, K;
  T alpha;
  const T* A;
  int64_t rs_a, cs_a;
  const T* B;
  int64_t rs_b, cs_b;
  T beta;
  T* C;
  int64_t ldc;
  const T* bias;
  Act act;
};
template <class T>
using SkinnyFn = void (*)(const SkinnyArgs<T>& a);

template <class T>
struct Config {
  int mr, nr;            // microkernel tile
  int64_t mc, kc, nc;    // cache blocks (mc a multiple of mr, nc of nr)
  UkernelFn<T> packed;   // a packed
  UkernelFn<T> strided;  // a read in place with strides
  PackFn<T> pack;
  SkinnyFn<T> skinny_dots;
  SkinnyFn<T> skinny_rows;
};

struct Kernels {
  Config<float> f32;
  Config<double> f64;
  // Runs `iters` rounds of register-resident, independent FMAs on one thread; returns the
  // floating-point operations done (2 per lane per FMA).
  double (*fma_loop_f32)(int64_t iters);
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call

// The table for nervo::current_isa().
const Kernels& kernels();

}  // namespace gemm
}  // namespace nervo
