// Fused scaled-dot-product attention, written once over a Vec type (core/vec_*.h) and instantiated
// by attn_ref.cpp / attn_avx2.cpp / attn_avx512.cpp inside their ISA namespace. Contract and sizes:
// attn.h (B, N, L, S, E, Ev; blocks kBlockL x kBlockS).
//
// One microkernel carries all the arithmetic: small_gemm, C (m x n) [+]= A @ B with A read
// through strides (rs_a, cs_a) (so P^T and dS^T need no copy) and B row-major, in 4 x (2 * width)
// register tiles (8 accumulators, 2 B loads and 4 A broadcasts per k). Every block product of
// forward (S = Q K^T, O += P V) and backward (S, dP = dO V^T, dV += P^T dO, dK += dS^T Q,
// dQ += dS K) is one call; K^T and V^T are packed per key block so B is always row-major.
#pragma once
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ops/attn/attn.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace attn_impl {

using attn::Args;
using attn::kBlockL;
using attn::kBlockS;

template <class V>
inline V ldp(const typename V::value_type* p, int64_t n) {
  return n >= V::width ? V::load(p) : V::load_partial(p, static_cast<int>(n));
}
template <class V>
inline void stp(V v, typename V::value_type* p, int64_t n) {
  if (n >= V::width) v.store(p); else v.store_partial(p, static_cast<int>(n));
}

template <class V, int MR>
inline void sg_tile(int64_t k, const typename V::value_type* A, int64_t rs_a, int64_t cs_a,
                    const typename V::value_type* B, int64_t ldb, int n,
                    typename V::value_type* C, int64_t ldc, bool accumulate) {
  constexpr int W = V::width;
  const int n0 = n < W ? n : W, n1 = n - n0;
  V c0[MR], c1[MR];
  for (int r = 0; r < MR; ++r) c0[r] = c1[r] = V::zero();
  if (n1 == W) {  // the common full tile: unmasked loads
    for (int64_t kk = 0; kk < k; ++kk) {
      const V b0 = V::load(B + kk * ldb), b1 = V::load(B + kk * ldb + W);
      for (int r = 0; r < MR; ++r) {
        const V a = V::set1(A[r * rs_a + kk * cs_a]);
        c0[r] = fma(a, b0, c0[r]);
        c1[r] = fma(a, b1, c1[r]);
      }
    }
  } else {
    for (int64_t kk = 0; kk < k; ++kk) {
      const V b0 = ldp<V>(B + kk * ldb, n0);
      const V b1 = n1 > 0 ? ldp<V>(B + kk * ldb + W, n1) : V::zero();
      for (int r = 0; r < MR; ++r) {
        const V a = V::set1(A[r * rs_a + kk * cs_a]);
        c0[r] = fma(a, b0, c0[r]);
        c1[r] = fma(a, b1, c1[r]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    auto* c = C + r * ldc;
    V v0 = c0[r], v1 = c1[r];
    if (accumulate) {
      v0 = v0 + ldp<V>(c, n0);
      if (n1 > 0) v1 = v1 + ldp<V>(c + W, n1);
    }
    stp(v0, c, n0);
    if (n1 > 0) stp(v1, c + W, n1);
  }
}

template <class V>
void small_gemm(int64_t m, int64_t n, int64_t k, const typename V::value_type* A, int64_t rs_a,
                int64_t cs_a, const typename V::value_type* B, int64_t ldb,
                typename V::value_type* C, int64_t ldc, bool accumulate) {
  constexpr int64_t NB = 2 * V::width;
  for (int64_t j0 = 0; j0 < n; j0 += NB) {
    const int nn = static_cast<int>(std::min(NB, n - j0));
    for (int64_t i0 = 0; i0 < m; i0 += 4) {
      const auto* a = A + i0 * rs_a;
      auto* c = C + i0 * ldc + j0;
      switch (std::min<int64_t>(4, m - i0)) {
        case 4: sg_tile<V, 4>(k, a, rs_a, cs_a, B + j0, ldb, nn, c, ldc, accumulate); break;
        case 3: sg_tile<V, 3>(k, a, rs_a, cs_a, B + j0, ldb, nn, c, ldc, accumulate); break;
        case 2: sg_tile<V, 2>(k, a, rs_a, cs_a, B + j0, ldb, nn, c, ldc, accumulate); break;
        default: sg_tile<V, 1>(k, a, rs_a, cs_a, B + j0, ldb, nn, c, ldc, accumulate); break;
      }
    }
  }
}

// bt[d * kBlockS + c] = src[(j0 + c) * D + d] for c < nc, zero for the padding columns.
template <class T>
void pack_transposed(const T* src, int64_t D, int64_t j0, int64_t nc, T* bt) {
  for (int64_t d = 0; d < D; ++d) {
    T* row = bt + d * kBlockS;
    for (int64_t c = 0; c < nc; ++c) row[c] = src[(j0 + c) * D + d];
    for (int64_t c = nc; c < kBlockS; ++c) row[c] = T(0);
  }
}

// Scale, add the mask, apply causality and padding to one score row (kBlockS entries).
template <class T>
struct RowMasker {
  const Args<T>& a;
  const T* mask_bn;  // mask at (b, n), or nullptr
  void operator()(T* row, int64_t i, int64_t j0, int64_t nc) const {
    const T scale = static_cast<T>(a.scale);
    const T ninf = -std::numeric_limits<T>::infinity();
    const T* mrow = mask_bn ? mask_bn + (a.mL > 1 ? i : 0) * a.mS : nullptr;
    for (int64_t c = 0; c < nc; ++c) {
      T s = row[c] * scale;
      if (mrow) s += mrow[a.mS > 1 ? j0 + c : 0];
      row[c] = s;
    }
    if (a.causal)
      for (int64_t c = std::max<int64_t>(0, i + 1 - j0); c < nc; ++c) row[c] = ninf;
    for (int64_t c = nc; c < kBlockS; ++c) row[c] = ninf;
  }
};

template <class T>
const T* mask_at(const Args<T>& a, int64_t b, int64_t n) {
  if (!a.mask) return nullptr;
  return a.mask + ((a.mB > 1 ? b : 0) * a.mN + (a.mN > 1 ? n : 0)) * a.mL * a.mS;
}

template <class V>
void forward(const Args<typename V::value_type>& a, typename V::value_type* out,
             typename V::value_type* lse) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  const int64_t B = a.B, N = a.N, L = a.L, S = a.S, E = a.E, Ev = a.Ev;
  const int64_t nqb = (L + kBlockL - 1) / kBlockL;
  const int64_t tasks = B * N * nqb;
  const T inf = std::numeric_limits<T>::infinity();
  const bool drop = a.dropout_p > 0;
  const uint64_t thr = static_cast<uint64_t>(a.dropout_p * 16777216.0);
  const T keep_scale = drop ? static_cast<T>(1.0 / (1.0 - a.dropout_p)) : T(1);
#pragma omp parallel if (tasks > 1 && !omp_in_parallel())
  {
    std::vector<T> kt(E * kBlockS), s(kBlockL * kBlockS), acc(kBlockL * Ev);
    T m[kBlockL], l[kBlockL];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t bn = task / nqb, qb = task % nqb;
      const int64_t b = bn / N, n = bn % N;
      const int64_t i0 = qb * kBlockL, nr = std::min(kBlockL, L - i0);
      const T* q = a.q + (bn * L + i0) * E;
      const T* k = a.k + bn * S * E;
      const T* v = a.v + bn * S * Ev;
      const RowMasker<T> masker{a, mask_at(a, b, n)};
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t i = 0; i < nr; ++i) { m[i] = -inf; l[i] = T(0); }
      const int64_t kend = a.causal ? std::min(S, i0 + nr) : S;
      for (int64_t j0 = 0; j0 < kend; j0 += kBlockS) {
        const int64_t nc = std::min(kBlockS, S - j0);
        pack_transposed(k, E, j0, nc, kt.data());
        small_gemm<V>(nr, kBlockS, E, q, E, 1, kt.data(), kBlockS, s.data(), kBlockS, false);
        for (int64_t i = 0; i < nr; ++i) {
          T* row = s.data() + i * kBlockS;
          masker(row, i0 + i, j0, nc);
          V vmax = V::load(row);
          for (int64_t c = W; c < kBlockS; c += W) vmax = max(V::load(row + c), vmax);
          T mx = reduce_max(vmax);
          for (int64_t c = 0; c < nc; ++c) if (row[c] != row[c]) mx = row[c];  // NaN wins
          const T m_new = std::max(m[i], mx);
          if (m_new == -inf) {  // every score so far is masked: this block adds nothing
            std::fill(row, row + kBlockS, T(0));
            continue;
          }
          const T alpha = m[i] == -inf ? T(0) : std::exp(m[i] - m_new);
          const V vm_new = V::set1(m_new);
          V vsum = V::zero();
          for (int64_t c = 0; c < kBlockS; c += W) {
            V p = vm::exp(V::load(row + c) - vm_new);
            p.store(row + c);
            vsum = vsum + p;
          }
          l[i] = l[i] * alpha + reduce_add(vsum);
          if (drop) {
            const uint64_t base = static_cast<uint64_t>((bn * L + i0 + i) * S + j0);
            for (int64_t c = 0; c < nc; ++c)
              row[c] = attn::dropped(a.seed, base + c, thr) ? T(0) : row[c] * keep_scale;
          }
          if (alpha != T(1)) {
            T* o = acc.data() + i * Ev;
            for (int64_t e = 0; e < Ev; ++e) o[e] *= alpha;
          }
          m[i] = m_new;
        }
        small_gemm<V>(nr, Ev, nc, s.data(), kBlockS, 1, v + j0 * Ev, Ev, acc.data(), Ev, true);
      }
      for (int64_t i = 0; i < nr; ++i) {
        T* o = out + (bn * L + i0 + i) * Ev;
        T* lrow = lse + bn * L + i0 + i;
        if (!(l[i] > T(0))) {  // fully masked row: defined as zero output (or NaN scores: NaN)
          const T fill = l[i] != l[i] ? l[i] : T(0);
          std::fill(o, o + Ev, fill);
          *lrow = l[i] != l[i] ? l[i] : inf;
          continue;
        }
        const T inv = T(1) / l[i];
        for (int64_t e = 0; e < Ev; ++e) o[e] = acc[i * Ev + e] * inv;
        *lrow = m[i] + std::log(l[i]);
      }
    }
  }
}

template <class V>
void backward(const Args<typename V::value_type>& a, const typename V::value_type* out,
              const typename V::value_type* lse, const typename V::value_type* dout,
              typename V::value_type* dq, typename V::value_type* dk,
              typename V::value_type* dv) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  const int64_t B = a.B, N = a.N, L = a.L, S = a.S, E = a.E, Ev = a.Ev;
  const int64_t tasks = B * N;
  const bool drop = a.dropout_p > 0;
  const uint64_t thr = static_cast<uint64_t>(a.dropout_p * 16777216.0);
  const T keep_scale = drop ? static_cast<T>(1.0 / (1.0 - a.dropout_p)) : T(1);
  const T scale = static_cast<T>(a.scale);
#pragma omp parallel if (tasks > 1 && !omp_in_parallel())
  {
    std::vector<T> kt(E * kBlockS), vt(Ev * kBlockS), s(kBlockL * kBlockS), dp(kBlockL * kBlockS);
    std::vector<T> dkb(kBlockS * E), dvb(kBlockS * Ev), drow(L);
#pragma omp for schedule(dynamic, 1)
    for (int64_t bn = 0; bn < tasks; ++bn) {
      const int64_t b = bn / N, n = bn % N;
      const T* q = a.q + bn * L * E;
      const T* k = a.k + bn * S * E;
      const T* v = a.v + bn * S * Ev;
      const T* o = out + bn * L * Ev;
      const T* go = dout + bn * L * Ev;
      const T* ls = lse + bn * L;
      T* gq = dq + bn * L * E;
      const RowMasker<T> masker{a, mask_at(a, b, n)};
      for (int64_t i = 0; i < L; ++i) {  // D_i = dO_i . O_i
        T d = T(0);
        for (int64_t e = 0; e < Ev; ++e) d += go[i * Ev + e] * o[i * Ev + e];
        drow[i] = d;
      }
      std::fill(gq, gq + L * E, T(0));
      for (int64_t j0 = 0; j0 < S; j0 += kBlockS) {
        const int64_t nc = std::min(kBlockS, S - j0);
        pack_transposed(k, E, j0, nc, kt.data());
        pack_transposed(v, Ev, j0, nc, vt.data());
        std::fill(dkb.begin(), dkb.end(), T(0));
        std::fill(dvb.begin(), dvb.end(), T(0));
        const int64_t qstart = a.causal ? (j0 / kBlockL) * kBlockL : 0;
        for (int64_t i0 = qstart; i0 < L; i0 += kBlockL) {
          const int64_t nr = std::min(kBlockL, L - i0);
          small_gemm<V>(nr, kBlockS, E, q + i0 * E, E, 1, kt.data(), kBlockS, s.data(), kBlockS, false);
          small_gemm<V>(nr, kBlockS, Ev, go + i0 * Ev, Ev, 1, vt.data(), kBlockS, dp.data(), kBlockS,
                        false);
          for (int64_t i = 0; i < nr; ++i) {
            T* row = s.data() + i * kBlockS;
            T* drw = dp.data() + i * kBlockS;
            masker(row, i0 + i, j0, nc);
            const V vl = V::set1(ls[i0 + i]);
            const V vd = V::set1(drow[i0 + i]);
            const V vs = V::set1(scale);
            if (!drop) {
              for (int64_t c = 0; c < kBlockS; c += W) {
                const V p = vm::exp(V::load(row + c) - vl);
                p.store(row + c);
                (p * (V::load(drw + c) - vd) * vs).store(drw + c);
              }
            } else {
              for (int64_t c = 0; c < kBlockS; c += W) vm::exp(V::load(row + c) - vl).store(row + c);
              const uint64_t base = static_cast<uint64_t>((bn * L + i0 + i) * S + j0);
              for (int64_t c = 0; c < nc; ++c) {
                const T kf = attn::dropped(a.seed, base + c, thr) ? T(0) : keep_scale;
                const T p = row[c];
                drw[c] = p * (drw[c] * kf - drow[i0 + i]) * scale;
                row[c] = p * kf;
              }
            }
          }
          small_gemm<V>(nc, Ev, nr, s.data(), 1, kBlockS, go + i0 * Ev, Ev, dvb.data(), Ev, true);
          small_gemm<V>(nc, E, nr, dp.data(), 1, kBlockS, q + i0 * E, E, dkb.data(), E, true);
          small_gemm<V>(nr, E, nc, dp.data(), kBlockS, 1, k + j0 * E, E, gq + i0 * E, E, true);
        }
        std::copy(dkb.begin(), dkb.begin() + nc * E, dk + (bn * S + j0) * E);
        std::copy(dvb.begin(), dvb.begin() + nc * Ev, dv + (bn * S + j0) * Ev);
      }
    }
  }
}

}  // namespace attn_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
