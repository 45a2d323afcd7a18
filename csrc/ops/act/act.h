// Elementwise activations, forward and backward.
//
// Sizes: n = number of elements. Arrays are contiguous.
//   forward:  y[i]  = f(x[i])                 (overwrites y; y may alias x)
//   backward: dx[i] = f'(.) * dy[i]           (overwrites dx; dx may alias dy or saved)
// `saved` is the forward output y for the ops where saves_output(op) is true (relu, sigmoid,
// tanh: the derivative is cheapest from y), the forward input x for all others.
#pragma once
#include <cstdint>

namespace nervo {
namespace act {

// Values are part of the binding ABI (python/nervo/ops/act.py mirrors them).
enum class Op : int {
  relu = 0, leaky_relu = 1, elu = 2, selu = 3, gelu = 4, gelu_tanh = 5, silu = 6, mish = 7,
  sigmoid = 8, tanh = 9, softplus = 10, hardtanh = 11, hardswish = 12,
};
constexpr int kNumOps = 13;

inline bool saves_output(Op op) { return op == Op::relu || op == Op::sigmoid || op == Op::tanh; }

// Per-op parameters: leaky_relu a=negative_slope; elu a=alpha; softplus a=beta, b=threshold;
// hardtanh a=min_val, b=max_val. Unused otherwise.
struct Params {
  double a = 0.0, b = 0.0;
};

template <class T>
using ForwardFn = void (*)(Op op, const T* x, T* y, int64_t n, Params p);
template <class T>
using BackwardFn = void (*)(Op op, const T* saved, const T* dy, T* dx, int64_t n, Params p);

// core/vmath.h functions, evaluated elementwise for the accuracy test (tests/ops/test_vmath.py).
enum class Vmath : int { exp = 0, expm1 = 1, log = 2, log1p = 3, tanh = 4, sigmoid = 5, erf = 6,
                         erf_rational = 7, erfc_pos = 8 };
constexpr int kNumVmath = 9;

struct Kernels {
  ForwardFn<float> forward_f32;
  BackwardFn<float> backward_f32;
  ForwardFn<double> forward_f64;
  BackwardFn<double> backward_f64;
  void (*vmath_f32)(Vmath fn, const float* x, float* y, int64_t n);
};

// One table per ISA level, each defined in its own translation unit.
extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call

// The table for nervo::current_isa().
const Kernels& kernels();

}  // namespace act
}  // namespace nervo
