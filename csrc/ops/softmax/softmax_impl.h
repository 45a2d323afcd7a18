// softmax / log_softmax kernels written once over a Vec type; instantiated per ISA by
// softmax_{ref,avx2,avx512}.cpp inside NERVO_ISA_NS.
//
// Last axis (inner == 1): one row per task, vectorized along C, three passes over the row
// (max; exp and sum; scale), the row stays in L1/L2 between passes.
// Other axes (inner > 1): vectorized across `inner` (W adjacent columns at once), the same three
// passes walking C with stride `inner`; no transpose copy.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "ops/softmax/softmax.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace softmax_impl {

using softmax::Shape;

// Lane mask source for row tails: load_partial(kOnes, r) is 1 in the first r lanes, 0 after.
template <class T>
alignas(64) constexpr T kOnes[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

// Rows per parallel task are chosen so a task holds at least ~16K elements of work.
inline int64_t grain(int64_t per_item) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(per_item, 1)); }

template <class V>
void row_forward(const typename V::value_type* x, typename V::value_type* y, int64_t C, bool log) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  const V ninf = V::set1(T(-INFINITY));
  // Pass 1: max. A NaN may be skipped here; it still turns the sum, hence the row, into NaN.
  V m = ninf;
  int64_t c = 0;
  for (; c + W <= C; c += W) m = max(V::load(x + c), m);
  T mx = reduce_max(m);
  for (; c < C; ++c) mx = x[c] > mx ? x[c] : mx;
  const V vmx = V::set1(mx);
  // Pass 2: exp(x - max) (stored for softmax) and its sum.
  V s = V::zero();
  c = 0;
  for (; c + W <= C; c += W) {
    V e = vm::exp(V::load(x + c) - vmx);
    if (!log) e.store(y + c);
    s = s + e;
  }
  if (c < C) {
    const int r = static_cast<int>(C - c);
    V e = vm::exp(V::load_partial(x + c, r) - vmx);
    if (!log) e.store_partial(y + c, r);
    // Lanes past the row hold exp(0 - max): mask them out of the sum.
    s = s + select(V::zero() < V::load_partial(kOnes<T>, r), e, V::zero());
  }
  const T sum = reduce_add(s);
  if (log) {
    // (x - max) - log(sum): subtracting the two parts separately keeps the small results of
    // large inputs accurate (one rounded shift max + log(sum) would cost an ulp of |max|).
    const V lz = V::set1(std::log(sum));
    c = 0;
    for (; c + W <= C; c += W) ((V::load(x + c) - vmx) - lz).store(y + c);
    if (c < C) {
      const int r = static_cast<int>(C - c);
      ((V::load_partial(x + c, r) - vmx) - lz).store_partial(y + c, r);
    }
  } else {
    const V inv = V::set1(T(1) / sum);
    c = 0;
    for (; c + W <= C; c += W) (V::load(y + c) * inv).store(y + c);
    if (c < C) {
      const int r = static_cast<int>(C - c);
      (V::load_partial(y + c, r) * inv).store_partial(y + c, r);
    }
  }
}

template <class V>
void row_backward(const typename V::value_type* y, const typename V::value_type* dy,
                  typename V::value_type* dx, int64_t C, bool log) {
  using T = typename V::value_type;
  constexpr int W = V::width;
  V s = V::zero();
  int64_t c = 0;
  if (log) {
    for (; c + W <= C; c += W) s = s + V::load(dy + c);
  } else {
    for (; c + W <= C; c += W) s = fma(V::load(dy + c), V::load(y + c), s);
  }
  T sum = reduce_add(s);
  for (; c < C; ++c) sum += log ? dy[c] : dy[c] * y[c];
  const V vs = V::set1(sum);
  c = 0;
  if (log) {
    for (; c + W <= C; c += W) (V::load(dy + c) - vm::exp(V::load(y + c)) * vs).store(dx + c);
    if (c < C) {
      const int r = static_cast<int>(C - c);
      (V::load_partial(dy + c, r) - vm::exp(V::load_partial(y + c, r)) * vs).store_partial(dx + c, r);
    }
  } else {
    for (; c + W <= C; c += W) (V::load(y + c) * (V::load(dy + c) - vs)).store(dx + c);
    if (c < C) {
      const int r = static_cast<int>(C - c);
      (V::load_partial(y + c, r) * (V::load_partial(dy + c, r) - vs)).store_partial(dx + c, r);
    }
  }
}

// inner > 1: columns j..j+r of one outer slice, r <= W lanes, stride `inner` between classes.
template <class V>
void cols_forward(const typename V::value_type* x, typename V::value_type* y, int64_t C,
                  int64_t inner, int r, bool log) {
  using T = typename V::value_type;
  V m = V::set1(T(-INFINITY));
  for (int64_t c = 0; c < C; ++c) m = max(V::load_partial(x + c * inner, r), m);
  V s = V::zero();
  for (int64_t c = 0; c < C; ++c) {
    V e = vm::exp(V::load_partial(x + c * inner, r) - m);
    if (!log) e.store_partial(y + c * inner, r);
    s = s + e;
  }
  if (log) {
    V lz = vm::log(s);
    for (int64_t c = 0; c < C; ++c)
      ((V::load_partial(x + c * inner, r) - m) - lz).store_partial(y + c * inner, r);
  } else {
    V inv = V::set1(T(1)) / s;
    for (int64_t c = 0; c < C; ++c)
      (V::load_partial(y + c * inner, r) * inv).store_partial(y + c * inner, r);
  }
}

template <class V>
void cols_backward(const typename V::value_type* y, const typename V::value_type* dy,
                   typename V::value_type* dx, int64_t C, int64_t inner, int r, bool log) {
  V s = V::zero();
  for (int64_t c = 0; c < C; ++c) {
    V g = V::load_partial(dy + c * inner, r);
    s = log ? s + g : fma(g, V::load_partial(y + c * inner, r), s);
  }
  for (int64_t c = 0; c < C; ++c) {
    V g = V::load_partial(dy + c * inner, r);
    V yy = V::load_partial(y + c * inner, r);
    V d = log ? g - vm::exp(yy) * s : yy * (g - s);
    d.store_partial(dx + c * inner, r);
  }
}

template <class V>
void forward(const typename V::value_type* x, typename V::value_type* y, Shape sh, bool log) {
  constexpr int W = V::width;
  if (sh.C == 0 || sh.outer == 0 || sh.inner == 0) return;
  if (sh.inner == 1) {
    const int64_t g = grain(sh.C);
#pragma omp parallel for schedule(static) if (sh.outer > g)
    for (int64_t o = 0; o < sh.outer; ++o) row_forward<V>(x + o * sh.C, y + o * sh.C, sh.C, log);
    return;
  }
  const int64_t nb = (sh.inner + W - 1) / W;
  const int64_t tasks = sh.outer * nb;
#pragma omp parallel for schedule(static) if (tasks * sh.C * W > 32768)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / nb, j = (t % nb) * W;
    const int r = static_cast<int>(std::min<int64_t>(W, sh.inner - j));
    const int64_t off = o * sh.C * sh.inner + j;
    cols_forward<V>(x + off, y + off, sh.C, sh.inner, r, log);
  }
}

template <class V>
void backward(const typename V::value_type* y, const typename V::value_type* dy,
              typename V::value_type* dx, Shape sh, bool log) {
  constexpr int W = V::width;
  if (sh.C == 0 || sh.outer == 0 || sh.inner == 0) return;
  if (sh.inner == 1) {
    const int64_t g = grain(sh.C);
#pragma omp parallel for schedule(static) if (sh.outer > g)
    for (int64_t o = 0; o < sh.outer; ++o)
      row_backward<V>(y + o * sh.C, dy + o * sh.C, dx + o * sh.C, sh.C, log);
    return;
  }
  const int64_t nb = (sh.inner + W - 1) / W;
  const int64_t tasks = sh.outer * nb;
#pragma omp parallel for schedule(static) if (tasks * sh.C * W > 32768)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / nb, j = (t % nb) * W;
    const int r = static_cast<int>(std::min<int64_t>(W, sh.inner - j));
    const int64_t off = o * sh.C * sh.inner + j;
    cols_backward<V>(y + off, dy + off, dx + off, sh.C, sh.inner, r, log);
  }
}

}  // namespace softmax_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
