// Fused optimizer steps written once over a Vec type (core/vec_*.h) and instantiated by
// optim_{ref,avx2,avx512}.cpp inside NERVO_ISA_NS. Each TU provides vsqrt(V) for its Vec types
// (found by argument-dependent lookup). Every step is one pass over its arrays, split in fixed
// chunks across threads; the loop-invariant option branches cost nothing next to the memory
// traffic. Vector fma is a fused multiply-add on the SIMD levels, like torch's vectorized kernels.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/optim/optim.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace optim_impl {

using namespace optim;

constexpr int64_t kChunk = 16384;  // elements per task (64 KiB of float32 per stream)

// f(i, r): process elements [i, i + r) with r == W (full vector) or r < W (the tail, partial
// loads/stores). Chunks are multiples of W, so only the last chunk has a tail.
// The step lambdas capture by value and each thread works on its own copy of the functor: a
// copy whose address never escapes lets the compiler keep the constants and pointers in
// registers. (With captures by reference every vector store -- __m256 may alias anything --
// forced a reload of each constant through two pointers per iteration: the Adam loop ran at
// half of torch's speed.)
template <class V, class F>
inline void chunked(int64_t n, const F& fshared) {
  constexpr int W = V::width;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel if (nchunks > 1)
  {
    const F f = fshared;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      const int64_t hi = std::min(n, (c + 1) * kChunk);
      int64_t i = c * kChunk;
      for (; i + W <= hi; i += W) f(i, W);
      if (i < hi) f(i, static_cast<int>(hi - i));
    }
  }
}

template <class V>
inline V ld(const typename V::value_type* p, int r) {
  return r == V::width ? V::load(p) : V::load_partial(p, r);
}
template <class V>
inline void st(V v, typename V::value_type* p, int r) {
  if (r == V::width) v.store(p);
  else v.store_partial(p, r);
}

template <class V>
void sgd(const SgdArgs<typename V::value_type>& a) {
  using T = typename V::value_type;
  const V nlr = V::set1(T(-a.lr)), mom = V::set1(T(a.momentum)), damp1 = V::set1(T(1.0 - a.dampening));
  const V wd = V::set1(T(a.weight_decay)), sign = V::set1(a.maximize ? T(-1) : T(1));
  const bool use_wd = a.weight_decay != 0.0, first = a.first_step, nest = a.nesterov;
  T* p = a.param;
  const T* g = a.grad;
  T* buf = a.buf;
  chunked<V>(a.n, [=](int64_t i, int r) {
    V pi = ld<V>(p + i, r);
    V d = sign * ld<V>(g + i, r);
    if (use_wd) d = fma(wd, pi, d);
    if (buf) {
      const V b = first ? d : fma(damp1, d, ld<V>(buf + i, r) * mom);
      st(b, buf + i, r);
      d = nest ? fma(mom, b, d) : b;
    }
    st(fma(nlr, d, pi), p + i, r);
  });
}

template <class V>
void adam(const AdamArgs<typename V::value_type>& a) {
  using T = typename V::value_type;
  const double bc1 = 1.0 - std::pow(a.beta1, double(a.step));
  const double bc2 = 1.0 - std::pow(a.beta2, double(a.step));
  const V nstep = V::set1(T(-a.lr / bc1)), inv_bc2 = V::set1(T(1.0 / std::sqrt(bc2)));
  const V w1 = V::set1(T(1.0 - a.beta1)), beta2 = V::set1(T(a.beta2)), w2 = V::set1(T(1.0 - a.beta2));
  const V eps = V::set1(T(a.eps)), wd = V::set1(T(a.weight_decay));
  const V decay = V::set1(T(1.0 - a.lr * a.weight_decay)), sign = V::set1(a.maximize ? T(-1) : T(1));
  const bool l2 = a.weight_decay != 0.0 && !a.decoupled, dec = a.weight_decay != 0.0 && a.decoupled;
  T* p = a.param;
  const T* g = a.grad;
  T* m = a.exp_avg;
  T* v = a.exp_avg_sq;
  T* vmax = a.max_exp_avg_sq;
  chunked<V>(a.n, [=](int64_t i, int r) {
    V pi = ld<V>(p + i, r);
    V d = sign * ld<V>(g + i, r);
    if (l2) d = fma(wd, pi, d);
    if (dec) pi = pi * decay;
    const V mo = ld<V>(m + i, r);
    const V mi = fma(w1, d - mo, mo);  // torch's lerp(m, g, 1 - beta1) for a weight < 0.5
    const V vi = fma(w2 * d, d, ld<V>(v + i, r) * beta2);
    st(mi, m + i, r);
    st(vi, v + i, r);
    V vv = vi;
    if (vmax) {
      vv = max(vi, ld<V>(vmax + i, r));  // maxps returns the second operand on NaN: keep old max
      st(vv, vmax + i, r);
    }
    const V denom = fma(vsqrt(vv), inv_bc2, eps);
    st(fma(nstep, mi / denom, pi), p + i, r);
  });
}

template <class V>
void rmsprop(const RmspropArgs<typename V::value_type>& a) {
  using T = typename V::value_type;
  const V nlr = V::set1(T(-a.lr)), alpha = V::set1(T(a.alpha)), w = V::set1(T(1.0 - a.alpha));
  const V eps = V::set1(T(a.eps)), wd = V::set1(T(a.weight_decay)), mom = V::set1(T(a.momentum));
  const V sign = V::set1(a.maximize ? T(-1) : T(1));
  const bool use_wd = a.weight_decay != 0.0;
  const bool lerp_small = std::fabs(1.0 - a.alpha) < 0.5;
  T* p = a.param;
  const T* g = a.grad;
  T* sq = a.square_avg;
  T* ga = a.grad_avg;
  T* buf = a.momentum_buf;
  chunked<V>(a.n, [=](int64_t i, int r) {
    V pi = ld<V>(p + i, r);
    V d = sign * ld<V>(g + i, r);
    if (use_wd) d = fma(wd, pi, d);
    const V s = fma(w * d, d, ld<V>(sq + i, r) * alpha);
    st(s, sq + i, r);
    V avg;
    if (ga) {
      const V go = ld<V>(ga + i, r);
      // torch's lerp(ga, g, w): ga + w (g - ga) for |w| < 0.5, else g - (g - ga)(1 - w).
      const V gi = lerp_small ? fma(w, d - go, go) : d - (d - go) * (V::set1(T(1)) - w);
      st(gi, ga + i, r);
      avg = vsqrt(fma(-gi, gi, s)) + eps;
    } else {
      avg = vsqrt(s) + eps;
    }
    if (buf) {
      const V b = fma(mom, ld<V>(buf + i, r), d / avg);
      st(b, buf + i, r);
      st(fma(nlr, b, pi), p + i, r);
    } else {
      st(fma(nlr, d / avg, pi), p + i, r);
    }
  });
}

template <class V>
void adagrad(const AdagradArgs<typename V::value_type>& a) {
  using T = typename V::value_type;
  const V nclr = V::set1(T(-a.lr / (1.0 + double(a.step - 1) * a.lr_decay)));
  const V wd = V::set1(T(a.weight_decay)), eps = V::set1(T(a.eps));
  const V sign = V::set1(a.maximize ? T(-1) : T(1));
  const bool use_wd = a.weight_decay != 0.0;
  T* p = a.param;
  const T* g = a.grad;
  T* ss = a.state_sum;
  chunked<V>(a.n, [=](int64_t i, int r) {
    V pi = ld<V>(p + i, r);
    V d = sign * ld<V>(g + i, r);
    if (use_wd) d = fma(wd, pi, d);
    const V s = fma(d, d, ld<V>(ss + i, r));
    st(s, ss + i, r);
    st(fma(nclr, d / (vsqrt(s) + eps), pi), p + i, r);
  });
}

// Not vectorized through V: the sum of squares accumulates in double (no overflow for any
// float input); 8 independent partial sums per chunk let the compiler vectorize it anyway.
template <class T>
double norm_accum(const T* x, int64_t n, double pnorm) {
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(nchunks), 0.0);
  const bool inf = std::isinf(pnorm), two = pnorm == 2.0;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
    double s = 0.0;
    if (two) {
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = lo;
      for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] += double(x[i + k]) * double(x[i + k]);
      for (int k = 0; k < 8; ++k) s += acc[k];
      for (; i < hi; ++i) s += double(x[i]) * double(x[i]);
    } else if (inf) {
      for (int64_t i = lo; i < hi; ++i) {
        const double ax = std::fabs(double(x[i]));
        s = (ax > s || ax != ax) ? ax : s;
      }
    } else {
      for (int64_t i = lo; i < hi; ++i) s += std::pow(std::fabs(double(x[i])), pnorm);
    }
    part[static_cast<size_t>(c)] = s;
  }
  double total = 0.0;
  for (double s : part) {
    if (inf) total = (s > total || s != s) ? s : total;
    else total += s;
  }
  return total;
}

template <class V>
void scale(typename V::value_type* x, int64_t n, double s) {
  const V vs = V::set1(typename V::value_type(s));
  chunked<V>(n, [=](int64_t i, int r) { st(ld<V>(x + i, r) * vs, x + i, r); });
}

template <class V>
constexpr Kernels1<typename V::value_type> table() {
  using T = typename V::value_type;
  return {&sgd<V>, &adam<V>, &rmsprop<V>, &adagrad<V>, &norm_accum<T>, &scale<V>};
}

}  // namespace optim_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
