// Normalization kernels: batch norm, layer norm, group norm, forward and backward.
//
// Sizes:
//   batch norm: x (N, C, L) with L = product of the trailing dims (1 for (N, C) inputs); statistics
//               per channel over N*L elements.
//   layer norm: x (M, D): statistics per row over its D trailing elements; weight/bias (D).
//   group norm: x (N, C, L), G groups of Cg = C / G channels; statistics per (n, g) over Cg*L
//               elements; weight/bias (C).
// Statistics are the mean and the reciprocal standard deviation rstd = 1 / sqrt(var + eps) with
// the biased variance, computed in two passes over data that stays in cache (one channel, row or
// group at a time). weight/bias may be nullptr (scale 1, shift 0).
// Contracts (every output overwritten; optional outputs may be nullptr):
//   batch_norm_forward:  batch_stats: mean/rstd := statistics of x, and when running_mean/var are
//                        given they are updated in place like torch: r = (1-momentum)*r +
//                        momentum*stat, with the unbiased variance (count/(count-1)) for running_var.
//                        Otherwise mean := running_mean, rstd := 1/sqrt(running_var + eps).
//                        y = (x - mean) * rstd * w + b.
//   batch_norm_backward: training (batch_stats): dx = w*rstd*(dy - mean(dy) - xhat*mean(dy*xhat));
//                        eval: dx = w*rstd*dy. dw = sum dy*xhat, db = sum dy.
//   layer_norm_* / group_norm_*: the same formulas per row / per (n, g) group.
// Reductions across rows or images (layer norm's dw/db, group norm's dw/db) are partitioned by
// output element, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace nervo {
namespace norm {

template <class T>
void batch_norm_forward(int64_t N, int64_t C, int64_t L, const T* x, const T* w, const T* b,
                        T* running_mean, T* running_var, T* mean, T* rstd, T* y, double momentum,
                        double eps, bool batch_stats);
template <class T>
void batch_norm_backward(int64_t N, int64_t C, int64_t L, const T* dy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* dx, T* dw, T* db, bool batch_stats);
template <class T>
void layer_norm_forward(int64_t M, int64_t D, const T* x, const T* w, const T* b, T* mean, T* rstd,
                        T* y, double eps);
template <class T>
void layer_norm_backward(int64_t M, int64_t D, const T* dy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* dx, T* dw, T* db);
template <class T>
void group_norm_forward(int64_t N, int64_t C, int64_t L, int64_t G, const T* x, const T* w,
                        const T* b, T* mean, T* rstd, T* y, double eps);
template <class T>
void group_norm_backward(int64_t N, int64_t C, int64_t L, int64_t G, const T* dy, const T* x,
                         const T* mean, const T* rstd, const T* w, T* dx, T* dw, T* db);

}  // namespace norm
}  // namespace nervo
