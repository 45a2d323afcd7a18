// Fused optimizer steps in plain C++ over T, compiled once per ISA (optim_{ref,avx2,avx512}.cpp):
// each loop body is straight-line arithmetic on restrict pointers, which GCC vectorizes to the
// TU's ISA (sqrt and div included: -fno-math-errno). Work is split in fixed chunks across threads.
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

// a * b + c: one fused instruction where the ISA has FMA (torch's vectorized kernels use fmadd
// too); baseline x86-64 has none, and std::fma there would be a slow exact library call.
template <class T>
inline T fmadd(T a, T b, T c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// torch's lerp: self + w * (end - self) for |w| < 0.5, else end - (end - self) * (1 - w).
template <class T>
inline T lerp(T self, T end, T w) {
  return std::fabs(w) < T(0.5) ? fmadd(w, end - self, self) : end - (end - self) * (T(1) - w);
}

constexpr int64_t kChunk = 16384;  // elements per task (64 KiB of float32 per stream)

template <class F>
inline void chunked(int64_t n, const F& f) {
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) f(c * kChunk, std::min(n, (c + 1) * kChunk));
}

template <class T>
void sgd(const SgdArgs<T>& a) {
  const T lr = T(a.lr), mom = T(a.momentum), damp1 = T(1.0 - a.dampening), wd = T(a.weight_decay);
  const T sign = a.maximize ? T(-1) : T(1);
  T* __restrict p = a.param;
  const T* __restrict g = a.grad;
  T* __restrict buf = a.buf;
  const bool use_wd = a.weight_decay != 0.0, first = a.first_step, nest = a.nesterov;
  chunked(a.n, [&](int64_t lo, int64_t hi) {
    if (!buf) {
      for (int64_t i = lo; i < hi; ++i) {
        T d = sign * g[i];
        if (use_wd) d = fmadd(wd, p[i], d);
        p[i] = fmadd(-lr, d, p[i]);
      }
      return;
    }
    for (int64_t i = lo; i < hi; ++i) {
      T d = sign * g[i];
      if (use_wd) d = fmadd(wd, p[i], d);
      const T b = first ? d : fmadd(damp1, d, buf[i] * mom);
      buf[i] = b;
      d = nest ? fmadd(mom, b, d) : b;
      p[i] = fmadd(-lr, d, p[i]);
    }
  });
}

template <class T>
void adam(const AdamArgs<T>& a) {
  const double bc1 = 1.0 - std::pow(a.beta1, double(a.step));
  const double bc2 = 1.0 - std::pow(a.beta2, double(a.step));
  const T step_size = T(a.lr / bc1), inv_bc2_sqrt = T(1.0 / std::sqrt(bc2));
  const T w1 = T(1.0 - a.beta1), beta2 = T(a.beta2), w2 = T(1.0 - a.beta2), eps = T(a.eps);
  const T wd = T(a.weight_decay), decay = T(1.0 - a.lr * a.weight_decay);
  const T sign = a.maximize ? T(-1) : T(1);
  const bool l2 = a.weight_decay != 0.0 && !a.decoupled, dec = a.weight_decay != 0.0 && a.decoupled;
  T* __restrict p = a.param;
  const T* __restrict g = a.grad;
  T* __restrict m = a.exp_avg;
  T* __restrict v = a.exp_avg_sq;
  T* __restrict vmax = a.max_exp_avg_sq;
  chunked(a.n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T pi = p[i];
      T d = sign * g[i];
      if (l2) d = fmadd(wd, pi, d);
      if (dec) pi = pi * decay;
      const T mi = fmadd(w1, d - m[i], m[i]);  // lerp with w = 1 - beta1 < 0.5
      const T vi = fmadd(w2 * d, d, v[i] * beta2);
      m[i] = mi;
      v[i] = vi;
      T vv = vi;
      if (vmax) {
        vv = std::max(vmax[i], vi);
        vmax[i] = vv;
      }
      const T denom = fmadd(std::sqrt(vv), inv_bc2_sqrt, eps);
      p[i] = fmadd(-step_size, mi / denom, pi);
    }
  });
}

template <class T>
void rmsprop(const RmspropArgs<T>& a) {
  const T lr = T(a.lr), alpha = T(a.alpha), w = T(1.0 - a.alpha), eps = T(a.eps);
  const T wd = T(a.weight_decay), mom = T(a.momentum), sign = a.maximize ? T(-1) : T(1);
  const bool use_wd = a.weight_decay != 0.0;
  T* __restrict p = a.param;
  const T* __restrict g = a.grad;
  T* __restrict sq = a.square_avg;
  T* __restrict ga = a.grad_avg;
  T* __restrict buf = a.momentum_buf;
  chunked(a.n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T d = sign * g[i];
      if (use_wd) d = fmadd(wd, p[i], d);
      const T s = fmadd(w * d, d, sq[i] * alpha);
      sq[i] = s;
      T avg;
      if (ga) {
        const T gi = lerp(ga[i], d, w);
        ga[i] = gi;
        avg = std::sqrt(fmadd(-gi, gi, s)) + eps;
      } else {
        avg = std::sqrt(s) + eps;
      }
      if (buf) {
        const T b = fmadd(mom, buf[i], d / avg);
        buf[i] = b;
        p[i] = fmadd(-lr, b, p[i]);
      } else {
        p[i] = fmadd(-lr, d / avg, p[i]);
      }
    }
  });
}

template <class T>
void adagrad(const AdagradArgs<T>& a) {
  const T clr = T(a.lr / (1.0 + double(a.step - 1) * a.lr_decay));
  const T wd = T(a.weight_decay), eps = T(a.eps), sign = a.maximize ? T(-1) : T(1);
  const bool use_wd = a.weight_decay != 0.0;
  T* __restrict p = a.param;
  const T* __restrict g = a.grad;
  T* __restrict ss = a.state_sum;
  chunked(a.n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T d = sign * g[i];
      if (use_wd) d = fmadd(wd, p[i], d);
      const T s = fmadd(d, d, ss[i]);
      ss[i] = s;
      p[i] = fmadd(-clr, d / (std::sqrt(s) + eps), p[i]);
    }
  });
}

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
      // 8 double partial sums (no overflow for any float input, vectorizes, deterministic).
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = lo;
      for (; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] = fmadd(double(x[i + k]), double(x[i + k]), acc[k]);
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

template <class T>
void scale(T* x, int64_t n, double s) {
  const T ts = T(s);
  T* __restrict xp = x;
  chunked(n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) xp[i] = xp[i] * ts;
  });
}

template <class T>
constexpr Kernels1<T> table() {
  return {&sgd<T>, &adam<T>, &rmsprop<T>, &adagrad<T>, &norm_accum<T>, &scale<T>};
}

}  // namespace optim_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
