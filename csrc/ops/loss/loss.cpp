// Loss family: ISA dispatch for cross-entropy, and the portable nll / pointwise losses (simple
// elementwise loops the compiler vectorizes; they are not on a benchmarked hot path).
// Formulas follow torch 2.13's CPU kernels (aten/src/ATen/native/Loss.cpp, LossNLL.cpp,
// BinaryOps.cpp): see each case.
#include "ops/loss/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu.h"

namespace nervo {
namespace loss {

const Kernels& kernels() {
  switch (current_isa()) {
    case Isa::avx512: return kernels_avx512();
    case Isa::avx2: return kernels_avx2();
    default: return kernels_ref;
  }
}

template <class T>
double nll(const T* logp, const int64_t* target, const T* weight, int64_t R, int64_t C,
           int64_t ignore_index, int reduction, T* losses, T* grad, double dscale, const T* drows) {
  double wtot = 0.0;
  for (int64_t i = 0; i < R; ++i) {
    const int64_t t = target[i];
    if (t != ignore_index) wtot += weight ? static_cast<double>(weight[t]) : 1.0;
  }
  const double gscale = reduction == kMean ? dscale / wtot : dscale;
  if (grad) std::fill(grad, grad + R * C, T(0));
  double total = 0.0;
  for (int64_t i = 0; i < R; ++i) {
    const int64_t t = target[i];
    double l = 0.0;
    if (t != ignore_index) {
      const double w = weight ? static_cast<double>(weight[t]) : 1.0;
      l = -w * static_cast<double>(logp[i * C + t]);
      if (grad) grad[i * C + t] = static_cast<T>(-w * (drows ? gscale * double(drows[i]) : gscale));
    }
    if (losses) losses[i] = static_cast<T>(l);
    total += l;
  }
  return reduction == kMean ? total / wtot : total;
}

namespace {

// Per-element loss and derivative d loss / d x, in T arithmetic like torch's kernels.
template <class T>
struct Elem {
  T loss, dx;
};

template <class T>
inline T sgn(T d) { return T((d > 0) - (d < 0)); }

template <class T>
inline Elem<T> elem(Pointwise op, T x, T y, T pw, bool has_pw, T a) {
  switch (op) {
    case Pointwise::mse: {
      const T d = x - y;
      return {d * d, T(2) * d};
    }
    case Pointwise::l1: {
      const T d = x - y;
      return {std::fabs(d), sgn(d)};
    }
    case Pointwise::smooth_l1: {  // a = beta; beta == 0 is l1
      const T d = x - y, ad = std::fabs(d);
      if (ad < a) return {T(0.5) * d * d / a, d / a};
      return {ad - T(0.5) * a, sgn(d)};
    }
    case Pointwise::huber: {  // a = delta
      const T d = x - y, ad = std::fabs(d);
      if (ad < a) return {T(0.5) * d * d, d};
      return {a * (ad - T(0.5) * a), a * sgn(d)};
    }
    case Pointwise::bce: {  // x = probability; logs clamped at -100, gradient denominator at 1e-12
      const T lx = std::max(std::log(x), T(-100)), l1x = std::max(std::log1p(-x), T(-100));
      const T loss = (y - T(1)) * l1x - y * lx;
      const T den = std::max((T(1) - x) * x, T(1e-12));
      return {loss, (x - y) / den};
    }
    case Pointwise::bce_logits: {  // (1-y) x + lw * softplus(-x), lw = 1 + (pw-1) y
      const T sp = std::log1p(std::exp(-std::fabs(x))) + std::max(-x, T(0));  // softplus(-x)
      const T sig = x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
      if (has_pw) {
        const T lw = (pw - T(1)) * y + T(1);
        return {(T(1) - y) * x + lw * sp, lw * sig - pw * y};
      }
      return {(T(1) - y) * x + sp, sig - y};
    }
    case Pointwise::kl_div: {  // x = log-probabilities, y = target (log-target when a != 0)
      if (a != T(0)) return {std::exp(y) * (y - x), -std::exp(y)};
      const T ylogy = y == T(0) ? T(0) : y * std::log(y);  // xlogy: 0 where y == 0 (NaN y stays NaN)
      return {ylogy - y * x, -y};
    }
  }
  return {T(0), T(0)};
}

constexpr int64_t kChunk = 16384;  // elements per task and per partial sum (fixed: deterministic)

}  // namespace

template <class T>
double pointwise(Pointwise op, const T* x, const T* y, const T* w, const T* pw, int64_t n, double a,
                 T* losses, T* grad, double dscale, const T* drows) {
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(nchunks), 0.0);
  const T ta = static_cast<T>(a);
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
    double s = 0.0;
    for (int64_t i = lo; i < hi; ++i) {
      Elem<T> e = elem<T>(op, x[i], y[i], pw ? pw[i] : T(1), pw != nullptr, ta);
      if (w) {
        e.loss *= w[i];
        e.dx *= w[i];
      }
      s += static_cast<double>(e.loss);
      if (losses) losses[i] = e.loss;
      if (grad) grad[i] = static_cast<T>(drows ? T(dscale) * drows[i] : T(dscale)) * e.dx;
    }
    partial[static_cast<size_t>(c)] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

template double nll<float>(const float*, const int64_t*, const float*, int64_t, int64_t, int64_t,
                           int, float*, float*, double, const float*);
template double nll<double>(const double*, const int64_t*, const double*, int64_t, int64_t, int64_t,
                            int, double*, double*, double, const double*);
template double pointwise<float>(Pointwise, const float*, const float*, const float*, const float*,
                                 int64_t, double, float*, float*, double, const float*);
template double pointwise<double>(Pointwise, const double*, const double*, const double*,
                                  const double*, int64_t, double, double*, double*, double,
                                  const double*);

}  // namespace loss
}  // namespace nervo
