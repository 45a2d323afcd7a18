// 2-D pooling over NCHW planes, forward and backward (1-D pooling is the H == 1 case).
//
// Sizes: NC = N * C planes, each H x W in, P x Q out; window R x S (kernel), strides sh/sw,
// top/left padding ph/pw, dilation dh/dw. The window of output (p, q) starts at input
// (p*sh - ph, q*sw - pw); reads outside the input are skipped (max) or count as zeros (avg).
// P and Q come from the caller (floor or ceil mode); every read is bounds-checked, so any P, Q is
// memory-safe.
// Contracts (all outputs overwritten):
//   max_pool2d_forward:  y = window max, idx = flat index h*W + w of the max inside its plane
//                        (NaN wins and propagates, the last NaN's index; an all -inf window gives
//                        -inf and its first element's index, like torch; never -1).
//   max_pool2d_backward: dx = 0, then dx[plane][idx] += dy. Returns false (and stops writing) if
//                        an index is outside [0, H*W).
//   avg_pool2d_*:        torch's divisor rules: count_include_pad counts padding inside the
//                        padded input (not the ceil-mode overhang); divisor > 0 overrides.
//   adaptive_avg_pool2d_*: window [floor(p*H/P), ceil((p+1)*H/P)).
#pragma once
#include <cstdint>

namespace nervo {
namespace pool {

struct Shape {
  int64_t NC, H, W, P, Q;
  int64_t R, S, sh, sw, ph, pw, dh, dw;
};

template <class T>
void max_pool2d_forward(const Shape& s, const T* x, T* y, int64_t* idx);
template <class T>
bool max_pool2d_backward(const Shape& s, const T* dy, const int64_t* idx, T* dx);
template <class T>
void avg_pool2d_forward(const Shape& s, const T* x, T* y, bool count_include_pad, int64_t divisor);
template <class T>
void avg_pool2d_backward(const Shape& s, const T* dy, T* dx, bool count_include_pad,
                         int64_t divisor);
template <class T>
void adaptive_avg_pool2d_forward(const Shape& s, const T* x, T* y);
template <class T>
void adaptive_avg_pool2d_backward(const Shape& s, const T* dy, T* dx);

}  // namespace pool
}  // namespace nervo
