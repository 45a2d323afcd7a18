// Cross-entropy fused with log-softmax, written once over a Vec type; instantiated per ISA by
// loss_{ref,avx2,avx512}.cpp inside NERVO_ISA_NS.
//
// One row (sample) per task, vectorized along C:
//   pass 1: m = max_c x_c
//   pass 2: s = sum_c exp(x_c - m), plus the weighted sums label smoothing / probability targets
//           need, all taken relative to m so large logits do not cancel
//   pass 3: (gradient only) g_c = scale * (A * exp(x_c - m - log s) - b_c)
// The row (C <= a few thousand floats) stays in L1/L2 between passes.
//
// Class-index targets, weight w (1 if none), smoothing e, t = target:
//   loss = (1-e) * -w_t * logp_t  +  e/C * -sum_c w_c logp_c
//   dloss/dx_j = p_j * ((1-e) w_t + e/C sum_c w_c)  -  (1-e) w_t [j == t]  -  e/C w_j
// Probability targets q (smoothed: q' = (1-e) q + e/C):
//   loss = -sum_c w_c q'_c logp_c,   dloss/dx_j = p_j * sum_c w_c q'_c  -  w_j q'_j
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <omp.h>

#include "ops/loss/loss.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace loss_impl {

using loss::CrossEntropyArgs;

template <class T>
alignas(64) constexpr T kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

template <class V>
typename V::value_type row_max(const typename V::value_type* x, int64_t C) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  V m = V::set1(T(-INFINITY));
  int64_t c = 0;
  for (; c + W <= C; c += W) m = max(V::load(x + c), m);
  T mx = reduce_max(m);
  for (; c < C; ++c) mx = x[c] > mx ? x[c] : mx;
  return mx;
}

// Pass 3: g_c = scale * (A * exp(x_c - m - lz) - bw_c * wq_c), where bw/wq are optional
// per-class factors (nullptr means 1) and bcoef scales them.
template <class V>
void row_grad(const typename V::value_type* x, typename V::value_type* g, int64_t C, typename V::value_type m,
              typename V::value_type lz, typename V::value_type A, typename V::value_type scale,
              typename V::value_type bcoef, const typename V::value_type* bw,
              const typename V::value_type* wq) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  const V vm_ = V::set1(m), vlz = V::set1(lz), vA = V::set1(A * scale), vb = V::set1(bcoef * scale);
  const V one = V::set1(T(1));
  auto body = [&](V xv, V bwv, V wqv) { return fma(vA, vm::exp((xv - vm_) - vlz), -(vb * bwv * wqv)); };
  int64_t c = 0;
  for (; c + W <= C; c += W)
    body(V::load(x + c), bw ? V::load(bw + c) : one, wq ? V::load(wq + c) : one).store(g + c);
  if (c < C) {
    const int r = static_cast<int>(C - c);
    body(V::load_partial(x + c, r), bw ? V::load_partial(bw + c, r) : one,
         wq ? V::load_partial(wq + c, r) : one)
        .store_partial(g + c, r);
  }
}

// Class-index row: returns the row loss (already weighted), writes the gradient row when asked.
template <class V>
double index_row(const CrossEntropyArgs<typename V::value_type>& a, int64_t i, double wsum_classes,
                 double gscale) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  const int64_t C = a.C;
  const T* x = a.logits + i * C;
  T* g = a.grad ? a.grad + i * C : nullptr;
  const int64_t t = a.target[i];
  if (t == a.ignore_index) {
    if (g) std::fill(g, g + C, T(0));
    return 0.0;
  }
  const double eps = a.label_smoothing;
  const T m = row_max<V>(x, C);
  const V vm_ = V::set1(m);
  V se = V::zero(), sw = V::zero();
  int64_t c = 0;
  for (; c + W <= C; c += W) {
    V z = V::load(x + c) - vm_;
    se = se + vm::exp(z);
    if (eps > 0) sw = a.weight ? fma(V::load(a.weight + c), z, sw) : sw + z;
  }
  if (c < C) {
    const int r = static_cast<int>(C - c);
    auto in = V::zero() < V::load_partial(kOnes<T>, r);
    V z = V::load_partial(x + c, r) - vm_;
    se = se + select(in, vm::exp(z), V::zero());
    if (eps > 0) sw = sw + select(in, a.weight ? V::load_partial(a.weight + c, r) * z : z, V::zero());
  }
  const double lz = std::log(static_cast<double>(reduce_add(se)));
  const double wt = a.weight ? static_cast<double>(a.weight[t]) : 1.0;
  const double zt = static_cast<double>(x[t]) - static_cast<double>(m);
  double loss = -(1.0 - eps) * wt * (zt - lz);
  if (eps > 0) loss += -eps / double(C) * (static_cast<double>(reduce_add(sw)) - lz * wsum_classes);
  if (g) {
    const double s = a.drows ? gscale * static_cast<double>(a.drows[i]) : gscale;
    const double A = (1.0 - eps) * wt + eps / double(C) * wsum_classes;
    row_grad<V>(x, g, C, m, T(lz), T(A), T(s), T(eps / double(C)), a.weight, nullptr);
    g[t] -= T(s * (1.0 - eps) * wt);
  }
  return loss;
}

// Probability-target row.
template <class V>
double prob_row(const CrossEntropyArgs<typename V::value_type>& a, int64_t i, double gscale,
                typename V::value_type* wq_scratch) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  const int64_t C = a.C;
  const T* x = a.logits + i * C;
  const T* q = a.probs + i * C;
  T* g = a.grad ? a.grad + i * C : nullptr;
  const double eps = a.label_smoothing;
  const T m = row_max<V>(x, C);
  const V vm_ = V::set1(m), ke = V::set1(T(1.0 - eps)), ka = V::set1(T(eps / double(C)));
  V se = V::zero(), B = V::zero(), D = V::zero();
  int64_t c = 0;
  auto acc = [&](V z, V qv, V wv) {
    V wq = wv * fma(ke, qv, ka);
    B = B + wq;
    D = fma(wq, z, D);
    return wq;
  };
  const V one = V::set1(T(1));
  for (; c + W <= C; c += W) {
    V z = V::load(x + c) - vm_;
    se = se + vm::exp(z);
    V wq = acc(z, V::load(q + c), a.weight ? V::load(a.weight + c) : one);
    if (g) wq.store(wq_scratch + c);
  }
  if (c < C) {
    const int r = static_cast<int>(C - c);
    auto in = V::zero() < V::load_partial(kOnes<T>, r);
    V z = V::load_partial(x + c, r) - vm_;
    se = se + select(in, vm::exp(z), V::zero());
    V wv = a.weight ? V::load_partial(a.weight + c, r) : V::load_partial(kOnes<T>, r);
    V wq = acc(select(in, z, V::zero()), V::load_partial(q + c, r), wv);
    if (g) wq.store_partial(wq_scratch + c, r);
  }
  const double lz = std::log(static_cast<double>(reduce_add(se)));
  const double Bs = static_cast<double>(reduce_add(B));
  const double loss = -(static_cast<double>(reduce_add(D)) - lz * Bs);
  if (g) {
    const double s = a.drows ? gscale * static_cast<double>(a.drows[i]) : gscale;
    row_grad<V>(x, g, C, m, T(lz), T(Bs), T(s), T(1), wq_scratch, nullptr);
  }
  return loss;
}

template <class V>
double cross_entropy(const CrossEntropyArgs<typename V::value_type>& a) {
  using T = typename V::value_type;
  const int64_t R = a.R, C = a.C;
  double wtot = 0.0, wsum_classes = double(C);
  if (a.probs) {
    wtot = double(R);
  } else {
    for (int64_t i = 0; i < R; ++i) {
      const int64_t t = a.target[i];
      if (t != a.ignore_index) wtot += a.weight ? static_cast<double>(a.weight[t]) : 1.0;
    }
  }
  if (a.weight) {
    wsum_classes = 0.0;
    for (int64_t c = 0; c < C; ++c) wsum_classes += static_cast<double>(a.weight[c]);
  }
  // For kMean the gradient of loss/wtot; NaN when nothing counts (0/0, like torch's forward).
  const double gscale = a.reduction == loss::kMean ? a.dscale / wtot : a.dscale;
  std::vector<double> rows(static_cast<size_t>(R));
  const bool par = R * C > 32768 && R > 1;
  // Per-thread scratch for probability targets' w_c q'_c, allocated before the parallel region
  // (nothing may throw inside it).
  const int nt = par ? omp_get_max_threads() : 1;
  std::vector<T> scratch(a.probs && a.grad ? static_cast<size_t>(C) * nt : 0);
#pragma omp parallel if (par)
  {
    T* mine = scratch.empty() ? nullptr : scratch.data() + static_cast<size_t>(C) * omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < R; ++i) {
      const double l = a.probs ? prob_row<V>(a, i, gscale, mine)
                               : index_row<V>(a, i, wsum_classes, gscale);
      rows[static_cast<size_t>(i)] = l;
      if (a.losses) a.losses[i] = static_cast<T>(l);
    }
  }
  double total = 0.0;
  for (int64_t i = 0; i < R; ++i) total += rows[static_cast<size_t>(i)];
  return a.reduction == loss::kMean ? total / wtot : total;
}

}  // namespace loss_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
