// Vectorized row passes of the normalization family (contracts in norm_kernels.h), written once
// over a Vec type and instantiated by norm_ref.cpp (one-lane Vec: float32 and float64),
// norm_avx2.cpp and norm_avx512.cpp inside their ISA namespace.
#pragma once
#include <algorithm>
#include <cstdint>

#include "ops/norm/norm_kernels.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace norm_impl {

// Elements summed in float lanes before the block total joins the double accumulator.
constexpr int64_t kSumBlock = 1024;

template <class V>
inline V loadn(const typename V::value_type* p, int64_t n) {
  return n >= V::width ? V::load(p) : V::load_partial(p, static_cast<int>(n));
}

// Block reduction: f(i, acc...) over [0, n) with 2 accumulator pairs; F adds a vector's
// contribution for the elements at i (count = min(W, rest)) into a and b.
template <class V, class F>
inline void reduce2(int64_t n, double* out_a, double* out_b, const F& f) {
  constexpr int W = V::width;
  double ta = 0, tb = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kSumBlock) {
    const int64_t b1 = std::min(n, b0 + kSumBlock);
    V a0 = V::zero(), a1 = V::zero(), c0 = V::zero(), c1 = V::zero();
    int64_t i = b0;
    for (; i + 2 * W <= b1; i += 2 * W) {
      f(i, W, a0, c0);
      f(i + W, W, a1, c1);
    }
    for (; i < b1; i += W) f(i, std::min<int64_t>(W, b1 - i), a0, c0);
    ta += double(reduce_add(a0 + a1));
    tb += double(reduce_add(c0 + c1));
  }
  *out_a += ta;
  *out_b += tb;
}

template <class V>
double sum(const typename V::value_type* x, int64_t n) {
  double s = 0, unused = 0;
  reduce2<V>(n, &s, &unused, [&](int64_t i, int64_t k, V& a, V&) { a = a + loadn<V>(x + i, k); });
  return s;
}

template <class V>
double sumsq_dev(const typename V::value_type* x, int64_t n, double m) {
  using T = typename V::value_type;
  const V vm = V::set1(T(m));
  double s = 0, unused = 0;
  // Masked-off lanes load 0; multiplying by a 1/0 lane mask drops their (0 - m)^2.
  static const T ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  reduce2<V>(n, &s, &unused, [&](int64_t i, int64_t k, V& a, V&) {
    V d = loadn<V>(x + i, k) - vm;
    if (k < V::width) d = d * V::load_partial(ones, static_cast<int>(k));
    a = fma(d, d, a);
  });
  return s;
}

template <class V>
void sum_dy_dyx(const typename V::value_type* dy, const typename V::value_type* x, int64_t n,
                double m, double* s_dy, double* s_dyx) {
  using T = typename V::value_type;
  const V vm = V::set1(T(m));
  reduce2<V>(n, s_dy, s_dyx, [&](int64_t i, int64_t k, V& a, V& b) {
    const V g = loadn<V>(dy + i, k);  // 0 in masked lanes, so they add nothing
    a = a + g;
    b = fma(g, loadn<V>(x + i, k) - vm, b);
  });
}

template <class V>
void affine(const typename V::value_type* x, typename V::value_type* y, int64_t n,
            typename V::value_type a, typename V::value_type b) {
  constexpr int W = V::width;
  const V va = V::set1(a), vb = V::set1(b);
  int64_t i = 0;
  for (; i + W <= n; i += W) fma(V::load(x + i), va, vb).store(y + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    fma(V::load_partial(x + i, r), va, vb).store_partial(y + i, r);
  }
}

template <class V>
void affine2(const typename V::value_type* dy, const typename V::value_type* x,
             typename V::value_type* dx, int64_t n, typename V::value_type a,
             typename V::value_type b, typename V::value_type c) {
  constexpr int W = V::width;
  const V va = V::set1(a), vb = V::set1(b), vc = V::set1(c);
  int64_t i = 0;
  for (; i + W <= n; i += W) fma(V::load(dy + i), va, fma(V::load(x + i), vb, vc)).store(dx + i);
  if (i < n) {
    const int r = static_cast<int>(n - i);
    fma(V::load_partial(dy + i, r), va, fma(V::load_partial(x + i, r), vb, vc)).store_partial(dx + i, r);
  }
}

template <class V>
void scale_shift(const typename V::value_type* x, const typename V::value_type* w,
                 const typename V::value_type* b, typename V::value_type* y, int64_t n,
                 typename V::value_type m, typename V::value_type r) {
  constexpr int W = V::width;
  const V vm = V::set1(m), vr = V::set1(r), one = V::set1(1), zero = V::zero();
  for (int64_t i = 0; i < n; i += W) {
    const int64_t k = std::min<int64_t>(W, n - i);
    V v = (loadn<V>(x + i, k) - vm) * vr;
    v = fma(v, w ? loadn<V>(w + i, k) : one, b ? loadn<V>(b + i, k) : zero);
    if (k == W)
      v.store(y + i);
    else
      v.store_partial(y + i, static_cast<int>(k));
  }
}

template <class V>
void sum_gw(const typename V::value_type* dy, const typename V::value_type* x,
            const typename V::value_type* w, int64_t n, double m, double* s_g, double* s_gx) {
  using T = typename V::value_type;
  const V vm = V::set1(T(m)), one = V::set1(T(1));
  reduce2<V>(n, s_g, s_gx, [&](int64_t i, int64_t k, V& a, V& b) {
    const V g = loadn<V>(dy + i, k) * (w ? loadn<V>(w + i, k) : one);
    a = a + g;
    b = fma(g, loadn<V>(x + i, k) - vm, b);
  });
}

template <class V>
void ln_dx(const typename V::value_type* dy, const typename V::value_type* x,
           const typename V::value_type* w, typename V::value_type* dx, int64_t n,
           typename V::value_type m, typename V::value_type r, typename V::value_type a1,
           typename V::value_type a2) {
  constexpr int W = V::width;
  const V vm = V::set1(m), vr = V::set1(r), va1 = V::set1(a1), va2 = V::set1(a2), one = V::set1(1);
  for (int64_t i = 0; i < n; i += W) {
    const int64_t k = std::min<int64_t>(W, n - i);
    const V g = loadn<V>(dy + i, k) * (w ? loadn<V>(w + i, k) : one);
    const V v = vr * (g - va1 - (loadn<V>(x + i, k) - vm) * va2);
    if (k == W)
      v.store(dx + i);
    else
      v.store_partial(dx + i, static_cast<int>(k));
  }
}

template <class V>
constexpr norm::RowKernels<typename V::value_type> row_table() {
  return {&sum<V>, &sumsq_dev<V>, &sum_dy_dyx<V>, &affine<V>, &affine2<V>,
          &scale_shift<V>, &sum_gw<V>, &ln_dx<V>};
}

}  // namespace norm_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
