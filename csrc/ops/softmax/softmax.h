// softmax / log_softmax along one axis, forward and backward.
//
// Sizes: the input is viewed as (outer, C, inner), contiguous; the softmax runs over C for every
// (outer, inner) pair. inner == 1 is the common "last axis" case (rows of length C).
//   forward:  y = softmax(x) or log_softmax(x)                       (overwrites y; y may alias x)
//   backward: softmax:     dx = y * (dy - sum_c(dy * y))
//             log_softmax: dx = dy - exp(y) * sum_c(dy)              (overwrites dx; may alias dy)
// The max-shifted form is used throughout: a row of all -inf gives NaN (like torch), a row with
// some -inf entries gives exact zeros (-inf for log_softmax) there. C == 0 writes nothing.
#pragma once
#include <cstdint>

namespace nervo {
namespace softmax {

struct Shape {
  int64_t outer, C, inner;
};

template <class T>
using ForwardFn = void (*)(const T* x, T* y, Shape s, bool log);
template <class T>
using BackwardFn = void (*)(const T* y, const T* dy, T* dx, Shape s, bool log);

struct Kernels {
  ForwardFn<float> forward_f32;
  BackwardFn<float> backward_f32;
  ForwardFn<double> forward_f64;
  BackwardFn<double> backward_f64;
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call

const Kernels& kernels();

}  // namespace softmax
}  // namespace nervo
