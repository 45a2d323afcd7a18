// Normalization kernels (sizes and contracts in norm.h): the loops over channels, rows and
// groups, and the threading. The passes over each contiguous run are the current ISA level's
// row kernels (norm_kernels.h). Statistics are two passes over data that stays in L2 (one
// channel, row or group at a time): sum, then sum of squared deviations; then one output pass.
#include "ops/norm/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/norm/norm_kernels.h"

namespace nervo {
namespace norm {
namespace {

// Work above which a loop is spread over threads.
constexpr int64_t kParallelWork = 32768;

}  // namespace

template <class T>
void batch_norm_forward(int64_t N, int64_t C, int64_t L, const T* x, const T* w, const T* b,
                        T* running_mean, T* running_var, T* mean, T* rstd, T* y, double momentum,
                        double eps, bool batch_stats) {
  const RowKernels<T>& rk = row_kernels<T>();
  const int64_t cnt = N * L;
#pragma omp parallel for schedule(static) if (C > 1 && N * C * L > kParallelWork)
  for (int64_t c = 0; c < C; ++c) {
    if (batch_stats) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += rk.sum(x + (n * C + c) * L, L);
      const double m = cnt > 0 ? s / double(cnt) : std::nan("");
      double v = 0;
      for (int64_t n = 0; n < N; ++n) v += rk.sumsq_dev(x + (n * C + c) * L, L, m);
      v = cnt > 0 ? v / double(cnt) : std::nan("");
      mean[c] = T(m);
      rstd[c] = T(1.0 / std::sqrt(v + eps));
      if (running_mean && cnt > 0) {
        running_mean[c] = T((1.0 - momentum) * running_mean[c] + momentum * m);
        const double unbiased = cnt > 1 ? v * double(cnt) / double(cnt - 1) : std::nan("");
        running_var[c] = T((1.0 - momentum) * running_var[c] + momentum * unbiased);
      }
    } else {
      mean[c] = running_mean[c];
      rstd[c] = T(1.0 / std::sqrt(double(running_var[c]) + eps));
    }
    const double scale = double(rstd[c]) * (w ? double(w[c]) : 1.0);
    const double shift = (b ? double(b[c]) : 0.0) - double(mean[c]) * scale;
    for (int64_t n = 0; n < N; ++n)
      rk.affine(x + (n * C + c) * L, y + (n * C + c) * L, L, T(scale), T(shift));
  }
}

template <class T>
void batch_norm_backward(int64_t N, int64_t C, int64_t L, const T* dy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* dx, T* dw, T* db, bool batch_stats) {
  const RowKernels<T>& rk = row_kernels<T>();
  const int64_t cnt = N * L;
#pragma omp parallel for schedule(static) if (C > 1 && N * C * L > kParallelWork)
  for (int64_t c = 0; c < C; ++c) {
    const double m = mean[c], r = rstd[c];
    double s_dy = 0, s_dyx = 0;
    for (int64_t n = 0; n < N; ++n)
      rk.sum_dy_dyx(dy + (n * C + c) * L, x + (n * C + c) * L, L, m, &s_dy, &s_dyx);
    if (dw) dw[c] = T(s_dyx * r);
    if (db) db[c] = T(s_dy);
    if (!dx) continue;
    const double wr = (w ? double(w[c]) : 1.0) * r;
    // training: dx = wr * (dy - s_dy/cnt - (x - m) * r^2 * s_dyx / cnt) = a*dy + b*x + c0
    const double k = batch_stats && cnt > 0 ? r * r * s_dyx / double(cnt) : 0.0;
    const double mdy = batch_stats && cnt > 0 ? s_dy / double(cnt) : 0.0;
    const T a = T(wr), bx = T(-wr * k), c0 = T(wr * (m * k - mdy));
    for (int64_t n = 0; n < N; ++n)
      rk.affine2(dy + (n * C + c) * L, x + (n * C + c) * L, dx + (n * C + c) * L, L, a, bx, c0);
  }
}

template <class T>
void layer_norm_forward(int64_t M, int64_t D, const T* x, const T* w, const T* b, T* mean, T* rstd,
                        T* y, double eps) {
  const RowKernels<T>& rk = row_kernels<T>();
#pragma omp parallel for schedule(static) if (M > 1 && M * D > kParallelWork)
  for (int64_t i = 0; i < M; ++i) {
    const T* xr = x + i * D;
    const double m = D > 0 ? rk.sum(xr, D) / double(D) : std::nan("");
    const double v = D > 0 ? rk.sumsq_dev(xr, D, m) / double(D) : std::nan("");
    const double r = 1.0 / std::sqrt(v + eps);
    mean[i] = T(m);
    rstd[i] = T(r);
    rk.scale_shift(xr, w, b, y + i * D, D, T(m), T(r));
  }
}

template <class T>
void layer_norm_backward(int64_t M, int64_t D, const T* dy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* dx, T* dw, T* db) {
  const RowKernels<T>& rk = row_kernels<T>();
  if (dx) {
#pragma omp parallel for schedule(static) if (M > 1 && M * D > kParallelWork)
    for (int64_t i = 0; i < M; ++i) {
      const double m = mean[i], r = rstd[i];
      // With gw = dy * w: dx = r * (gw - mean(gw) - xhat * mean(gw * xhat)).
      double s_g = 0, s_gx = 0;
      rk.sum_gw(dy + i * D, x + i * D, w, D, m, &s_g, &s_gx);
      const double a1 = s_g / double(D), a2 = r * r * s_gx / double(D);
      rk.ln_dx(dy + i * D, x + i * D, w, dx + i * D, D, T(m), T(r), T(a1), T(a2));
    }
  }
  if (dw || db) {
    // Partition by column: each column's sum over rows runs in row order on one thread.
    constexpr int64_t kCols = 256;
    const int64_t nblocks = (D + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (nblocks > 1 && M * D > kParallelWork)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t j0 = blk * kCols, j1 = std::min(D, j0 + kCols);
      double aw[kCols] = {}, ab[kCols] = {};
      for (int64_t i = 0; i < M; ++i) {
        const double m = mean[i], r = rstd[i];
        const T* g = dy + i * D;
        const T* xr = x + i * D;
        for (int64_t j = j0; j < j1; ++j) {
          aw[j - j0] += double(g[j]) * (xr[j] - m) * r;
          ab[j - j0] += g[j];
        }
      }
      for (int64_t j = j0; j < j1; ++j) {
        if (dw) dw[j] = T(aw[j - j0]);
        if (db) db[j] = T(ab[j - j0]);
      }
    }
  }
}

template <class T>
void group_norm_forward(int64_t N, int64_t C, int64_t L, int64_t G, const T* x, const T* w,
                        const T* b, T* mean, T* rstd, T* y, double eps) {
  const RowKernels<T>& rk = row_kernels<T>();
  const int64_t Cg = C / G, cnt = Cg * L;
#pragma omp parallel for schedule(static) if (N * G > 1 && N * C * L > kParallelWork)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    const int64_t n = ng / G, g = ng % G;
    const T* xg = x + (n * C + g * Cg) * L;
    T* yg = y + (n * C + g * Cg) * L;
    const double m = cnt > 0 ? rk.sum(xg, cnt) / double(cnt) : std::nan("");
    const double v = cnt > 0 ? rk.sumsq_dev(xg, cnt, m) / double(cnt) : std::nan("");
    const double r = 1.0 / std::sqrt(v + eps);
    mean[ng] = T(m);
    rstd[ng] = T(r);
    for (int64_t c = 0; c < Cg; ++c) {
      const int64_t ch = g * Cg + c;
      const double scale = r * (w ? double(w[ch]) : 1.0);
      const double shift = (b ? double(b[ch]) : 0.0) - m * scale;
      rk.affine(xg + c * L, yg + c * L, L, T(scale), T(shift));
    }
  }
}

template <class T>
void group_norm_backward(int64_t N, int64_t C, int64_t L, int64_t G, const T* dy, const T* x,
                         const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db) {
  const RowKernels<T>& rk = row_kernels<T>();
  const int64_t Cg = C / G, cnt = Cg * L;
  if (dx) {
#pragma omp parallel for schedule(static) if (N * G > 1 && N * C * L > kParallelWork)
    for (int64_t ng = 0; ng < N * G; ++ng) {
      const int64_t n = ng / G, g = ng % G;
      const double m = mean[ng], r = rstd[ng];
      // Per channel sums of dy and dy*(x-m), weighted by w[c], give the group's two means.
      double s_g = 0, s_gx = 0;
      for (int64_t c = 0; c < Cg; ++c) {
        const int64_t ch = g * Cg + c;
        double sd = 0, sdx = 0;
        rk.sum_dy_dyx(dy + (n * C + ch) * L, x + (n * C + ch) * L, L, m, &sd, &sdx);
        const double wc = w ? double(w[ch]) : 1.0;
        s_g += wc * sd;
        s_gx += wc * sdx;
      }
      const double a1 = s_g / double(cnt), a2 = r * r * s_gx / double(cnt);
      for (int64_t c = 0; c < Cg; ++c) {
        const int64_t ch = g * Cg + c;
        const double wr = r * (w ? double(w[ch]) : 1.0);
        // dx = r * (w*dy - a1 - (x - m) * a2) = wr*dy - r*a2*x + r*(m*a2 - a1)
        rk.affine2(dy + (n * C + ch) * L, x + (n * C + ch) * L, dx + (n * C + ch) * L, L, T(wr),
                   T(-r * a2), T(r * (m * a2 - a1)));
      }
    }
  }
  if (dw || db) {
#pragma omp parallel for schedule(static) if (C > 1 && N * C * L > kParallelWork)
    for (int64_t ch = 0; ch < C; ++ch) {
      const int64_t g = ch / Cg;
      double aw = 0, ab = 0;
      for (int64_t n = 0; n < N; ++n) {
        double sd = 0, sdx = 0;
        rk.sum_dy_dyx(dy + (n * C + ch) * L, x + (n * C + ch) * L, L, mean[n * G + g], &sd, &sdx);
        aw += sdx * rstd[n * G + g];
        ab += sd;
      }
      if (dw) dw[ch] = T(aw);
      if (db) db[ch] = T(ab);
    }
  }
}

#define NERVO_NORM_INSTANTIATE(T)                                                                 \
  template void batch_norm_forward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*, T*, \
                                      T*, T*, T*, T*, double, double, bool);                      \
  template void batch_norm_backward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*,    \
                                       const T*, const T*, T*, T*, T*, bool);                      \
  template void layer_norm_forward<T>(int64_t, int64_t, const T*, const T*, const T*, T*, T*, T*,  \
                                      double);                                                    \
  template void layer_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*, const T*,  \
                                       const T*, T*, T*, T*);                                     \
  template void group_norm_forward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*,      \
                                      const T*, T*, T*, T*, double);                              \
  template void group_norm_backward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*,     \
                                       const T*, const T*, const T*, T*, T*, T*);
NERVO_NORM_INSTANTIATE(float)
NERVO_NORM_INSTANTIATE(double)
#undef NERVO_NORM_INSTANTIATE

}  // namespace norm
}  // namespace nervo
