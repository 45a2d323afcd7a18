// Pooling kernels: one OpenMP task per plane (or per group of small planes); windows clipped to
// the input once per output row/column. Sizes as in pool.h.
#include "ops/pool/pool.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

namespace nervo {
namespace pool {
namespace {

// Planes are independent; parallelize when there is enough work to pay for the fork.
inline bool worth_threads(const Shape& s) { return s.NC > 1 && s.NC * s.P * s.Q * s.R * s.S > 32768; }

struct Avg {
  int64_t h0, h1, w0, w1;  // clipped window
  int64_t div;
};

// torch's avg-pool window and divisor for output (p, q).
inline Avg avg_window(const Shape& s, int64_t p, int64_t q, bool count_include_pad, int64_t divisor) {
  int64_t h0 = p * s.sh - s.ph, w0 = q * s.sw - s.pw;
  int64_t h1 = std::min(h0 + s.R, s.H + s.ph), w1 = std::min(w0 + s.S, s.W + s.pw);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, s.H);
  w1 = std::min(w1, s.W);
  int64_t div = divisor > 0 ? divisor : count_include_pad ? pool_size : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, div};
}

// Max pooling when every window lies inside the input (no padding, no dilation, floor mode):
// no clipping, and an R x S window known at compile time unrolls into straight-line compares.
// One plane per call, sizes passed by value: inside the OpenMP loop, the stores to the int64
// index array could alias a shared Shape's int64 fields, which kept the compiler from holding
// them in registers (20 ns per output at batch >= 4 against 3 ns for one image).
template <class T, int R, int S>
__attribute__((noinline)) void max_pool_plane(const T* __restrict xp, T* __restrict yp,
                                              int64_t* __restrict ip, int64_t W, int64_t P,
                                              int64_t Q, int64_t sh, int64_t sw) {
  for (int64_t p = 0; p < P; ++p) {
    const int64_t h0 = p * sh;
    for (int64_t q = 0; q < Q; ++q) {
      const int64_t base = h0 * W + q * sw;
      T best = xp[base];
      int64_t bi = base;
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int t = (r == 0 ? 1 : 0); t < S; ++t) {
          const int64_t i = base + r * W + t;
          const T v = xp[i];
          const bool take = v > best || v != v;  // NaN wins; a later NaN replaces an earlier one
          best = take ? v : best;
          bi = take ? i : bi;
        }
      yp[p * Q + q] = best;
      ip[p * Q + q] = bi;
    }
  }
}

template <class T, int R, int S>
void max_pool_interior(const Shape& s, const T* x, T* y, int64_t* idx) {
  const int64_t NC = s.NC, W = s.W, HW = s.H * s.W, P = s.P, Q = s.Q, PQ = s.P * s.Q;
  const int64_t sh = s.sh, sw = s.sw;
#pragma omp parallel for schedule(static) if (worth_threads(s))
  for (int64_t pl = 0; pl < NC; ++pl)
    max_pool_plane<T, R, S>(x + pl * HW, y + pl * PQ, idx + pl * PQ, W, P, Q, sh, sw);
}

}  // namespace

template <class T>
void max_pool2d_forward(const Shape& s, const T* x, T* y, int64_t* idx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  const bool interior = s.ph == 0 && s.pw == 0 && s.dh == 1 && s.dw == 1 && s.P > 0 && s.Q > 0 &&
                        (s.P - 1) * s.sh + s.R <= s.H && (s.Q - 1) * s.sw + s.S <= s.W;
  if (interior && s.R == 2 && s.S == 2) return max_pool_interior<T, 2, 2>(s, x, y, idx);
  if (interior && s.R == 3 && s.S == 3) return max_pool_interior<T, 3, 3>(s, x, y, idx);
#pragma omp parallel for schedule(static) if (worth_threads(s))
  for (int64_t pl = 0; pl < s.NC; ++pl) {
    const T* xp = x + pl * HW;
    T* yp = y + pl * PQ;
    int64_t* ip = idx + pl * PQ;
    for (int64_t p = 0; p < s.P; ++p) {
      int64_t h0 = p * s.sh - s.ph;
      const int64_t h1 = std::min(h0 + (s.R - 1) * s.dh + 1, s.H);
      while (h0 < 0) h0 += s.dh;
      for (int64_t q = 0; q < s.Q; ++q) {
        int64_t w0 = q * s.sw - s.pw;
        const int64_t w1 = std::min(w0 + (s.S - 1) * s.dw + 1, s.W);
        while (w0 < 0) w0 += s.dw;
        T best = -std::numeric_limits<T>::infinity();
        int64_t bi = std::min(std::max<int64_t>(h0 * s.W + w0, 0), HW - 1);
        for (int64_t h = h0; h < h1; h += s.dh)
          for (int64_t w = w0; w < w1; w += s.dw) {
            const T v = xp[h * s.W + w];
            if (v > best || std::isnan(v)) {
              best = v;
              bi = h * s.W + w;
            }
          }
        yp[p * s.Q + q] = best;
        ip[p * s.Q + q] = HW > 0 ? bi : 0;
      }
    }
  }
}

template <class T>
bool max_pool2d_backward(const Shape& s, const T* dy, const int64_t* idx, T* dx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  std::atomic<bool> ok{true};
#pragma omp parallel for schedule(static) if (s.NC * (HW + PQ) > 65536)
  for (int64_t pl = 0; pl < s.NC; ++pl) {
    T* dxp = dx + pl * HW;
    std::fill(dxp, dxp + HW, T(0));
    const T* g = dy + pl * PQ;
    const int64_t* ip = idx + pl * PQ;
    for (int64_t i = 0; i < PQ; ++i) {
      const int64_t j = ip[i];
      if (j < 0 || j >= HW) {
        ok.store(false, std::memory_order_relaxed);
        break;
      }
      dxp[j] += g[i];
    }
  }
  return ok.load();
}

template <class T>
void avg_pool2d_forward(const Shape& s, const T* x, T* y, bool count_include_pad, int64_t divisor) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
#pragma omp parallel for schedule(static) if (worth_threads(s))
  for (int64_t pl = 0; pl < s.NC; ++pl) {
    const T* xp = x + pl * HW;
    T* yp = y + pl * PQ;
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        const Avg a = avg_window(s, p, q, count_include_pad, divisor);
        T sum = 0;
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) sum += xp[h * s.W + w];
        // An empty window (possible only when padding is not counted) gives 0/0: torch too.
        yp[p * s.Q + q] = a.div != 0 ? sum / T(a.div) : sum / T(0);
      }
  }
}

template <class T>
void avg_pool2d_backward(const Shape& s, const T* dy, T* dx, bool count_include_pad,
                         int64_t divisor) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
#pragma omp parallel for schedule(static) if (worth_threads(s))
  for (int64_t pl = 0; pl < s.NC; ++pl) {
    T* dxp = dx + pl * HW;
    std::fill(dxp, dxp + HW, T(0));
    const T* g = dy + pl * PQ;
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        const Avg a = avg_window(s, p, q, count_include_pad, divisor);
        if (a.div == 0) continue;
        const T v = g[p * s.Q + q] / T(a.div);
        for (int64_t h = a.h0; h < a.h1; ++h)
          for (int64_t w = a.w0; w < a.w1; ++w) dxp[h * s.W + w] += v;
      }
  }
}

namespace {
inline int64_t start_index(int64_t o, int64_t out, int64_t in) { return (o * in) / out; }
inline int64_t end_index(int64_t o, int64_t out, int64_t in) { return ((o + 1) * in + out - 1) / out; }
}  // namespace

template <class T>
void adaptive_avg_pool2d_forward(const Shape& s, const T* x, T* y) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
  const bool global = s.P == 1 && s.Q == 1;
#pragma omp parallel for schedule(static) if (s.NC > 1 && s.NC * HW > 65536)
  for (int64_t pl = 0; pl < s.NC; ++pl) {
    const T* xp = x + pl * HW;
    T* yp = y + pl * PQ;
    if (global) {
      T sum = 0;
      for (int64_t i = 0; i < HW; ++i) sum += xp[i];
      yp[0] = sum / T(HW);
      continue;
    }
    for (int64_t p = 0; p < s.P; ++p) {
      const int64_t h0 = start_index(p, s.P, s.H), h1 = end_index(p, s.P, s.H);
      for (int64_t q = 0; q < s.Q; ++q) {
        const int64_t w0 = start_index(q, s.Q, s.W), w1 = end_index(q, s.Q, s.W);
        T sum = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += xp[h * s.W + w];
        yp[p * s.Q + q] = sum / T((h1 - h0) * (w1 - w0));
      }
    }
  }
}

template <class T>
void adaptive_avg_pool2d_backward(const Shape& s, const T* dy, T* dx) {
  const int64_t HW = s.H * s.W, PQ = s.P * s.Q;
#pragma omp parallel for schedule(static) if (s.NC > 1 && s.NC * HW > 65536)
  for (int64_t pl = 0; pl < s.NC; ++pl) {
    T* dxp = dx + pl * HW;
    std::fill(dxp, dxp + HW, T(0));
    const T* g = dy + pl * PQ;
    for (int64_t p = 0; p < s.P; ++p) {
      const int64_t h0 = start_index(p, s.P, s.H), h1 = end_index(p, s.P, s.H);
      for (int64_t q = 0; q < s.Q; ++q) {
        const int64_t w0 = start_index(q, s.Q, s.W), w1 = end_index(q, s.Q, s.W);
        const T v = g[p * s.Q + q] / T((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) dxp[h * s.W + w] += v;
      }
    }
  }
}

#define NERVO_POOL_INSTANTIATE(T)                                                              \
  template void max_pool2d_forward<T>(const Shape&, const T*, T*, int64_t*);                   \
  template bool max_pool2d_backward<T>(const Shape&, const T*, const int64_t*, T*);            \
  template void avg_pool2d_forward<T>(const Shape&, const T*, T*, bool, int64_t);              \
  template void avg_pool2d_backward<T>(const Shape&, const T*, T*, bool, int64_t);             \
  template void adaptive_avg_pool2d_forward<T>(const Shape&, const T*, T*);                    \
  template void adaptive_avg_pool2d_backward<T>(const Shape&, const T*, T*);
NERVO_POOL_INSTANTIATE(float)
NERVO_POOL_INSTANTIATE(double)
#undef NERVO_POOL_INSTANTIATE

}  // namespace pool
}  // namespace nervo
