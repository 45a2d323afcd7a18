// 2-D convolution (cross-correlation, like torch), NCHW, forward and both backward passes.
//
// Sizes (one vocabulary for the whole family):
//   N batch, C input channels, H x W input, K output channels, R x S filter, P x Q output,
//   G groups (C and K divisible by G; Cg = C / G, Kg = K / G).
//   x  (N, C, H, W)        w  (K, Cg, R, S)        y  (N, K, P, Q)        bias (K)
//   output (p, q) reads input rows p*sh - ph + r*dh and columns q*sw - pw + s*dw; reads outside
//   the input are zeros (padding). ph/pw are the top/left padding; the bottom/right padding is
//   implied by P and Q, so asymmetric "same" padding needs nothing special. Any P, Q >= 0 is
//   memory-safe: every read is bounds-checked.
// Contracts:
//   conv2d_forward:         y = act(conv(x, w) + bias)                 (y overwritten)
//   conv2d_backward_data:   dx = conv^T(dy, w)                         (dx overwritten)
//   conv2d_backward_weight: dw = sum_n corr(dy, x), db = sum dy        (overwritten; either may be
//                           nullptr). Reduction over the batch runs in fixed image chunks, so the
//                           result does not depend on the thread count.
// conv1d and conv_transpose2d are expressed with these three in python/nervo/ops/conv.py.
#pragma once
#include <cstdint>

#include "ops/gemm/gemm.h"

namespace nervo {
namespace conv {

struct Shape {
  int64_t N, C, H, W, K, R, S, P, Q;
  int64_t sh, sw, ph, pw, dh, dw, G;
};

// Values are part of the binding ABI (python/nervo/ops/conv.py mirrors them).
enum class Act : int { none = 0, relu = 1 };

template <class T>
void conv2d_forward(const Shape& s, const T* x, const T* w, const T* bias, T* y, Act act);
template <class T>
void conv2d_backward_data(const Shape& s, const T* dy, const T* w, T* dx);
template <class T>
void conv2d_backward_weight(const Shape& s, const T* dy, const T* x, T* dw, T* db);

}  // namespace conv
}  // namespace nervo
