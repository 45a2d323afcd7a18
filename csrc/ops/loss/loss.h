// Loss functions, forward and gradient in one call (the gradient costs one more pass over data the
// forward just touched, so the fused form saves a full read of the inputs).
//
// Sizes: R rows (samples), C classes; n elements for the pointwise losses. Arrays contiguous.
// Reductions: kNone (per-sample losses), kMean, kSum. Every kernel returns the reduced loss
// (mean or sum; the sum for kNone), writes per-sample losses to `losses` when non-null, and when
// `grad` is non-null overwrites it with  dscale * d(reduced loss)/d(input)  (for kNone the
// per-sample upstream gradient `drows` replaces dscale when non-null).
// Sums are accumulated in double in a fixed order, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace nervo {
namespace loss {

enum Reduction : int { kNone = 0, kMean = 1, kSum = 2 };

// Pointwise losses (values are part of the binding ABI, python/nervo/ops/loss.py mirrors them).
enum class Pointwise : int {
  mse = 0, l1 = 1, smooth_l1 = 2, huber = 3, bce = 4, bce_logits = 5, kl_div = 6,
};
constexpr int kNumPointwise = 7;

template <class T>
struct CrossEntropyArgs {
  const T* logits;       // (R, C)
  const int64_t* target; // (R,) class indices, or nullptr when `probs` is given
  const T* probs;        // (R, C) target probabilities, or nullptr
  const T* weight;       // (C,) class weights or nullptr
  int64_t R, C;
  int64_t ignore_index;
  double label_smoothing;
  int reduction;
  T* losses;             // (R,) or nullptr
  T* grad;               // (R, C) or nullptr
  double dscale;
  const T* drows;        // (R,) or nullptr
};

// Returns the reduced loss. Requires every target in [0, C) or == ignore_index (checked by the
// caller), probs rows are used as given (not renormalized, like torch).
template <class T>
using CrossEntropyFn = double (*)(const CrossEntropyArgs<T>& a);

struct Kernels {
  CrossEntropyFn<float> cross_entropy_f32;
  CrossEntropyFn<double> cross_entropy_f64;
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call
const Kernels& kernels();

// nll_loss on log-probabilities: loss_i = -w[t_i] * logp[i, t_i] (0 for ignored rows).
template <class T>
double nll(const T* logp, const int64_t* target, const T* weight, int64_t R, int64_t C,
           int64_t ignore_index, int reduction, T* losses, T* grad, double dscale, const T* drows);

// Pointwise losses between x and y (n elements): returns the sum of per-element losses (times
// `w` when non-null); `losses` gets them elementwise; `grad` = scale_i * dloss_i/dx_i with
// scale_i = drows ? drows[i] : dscale. Parameters: smooth_l1 a = beta, huber a = delta,
// kl_div a != 0 means log_target; `pw` (bce_logits pos_weight, full size) may be null.
template <class T>
double pointwise(Pointwise op, const T* x, const T* y, const T* w, const T* pw, int64_t n, double a,
                 T* losses, T* grad, double dscale, const T* drows);

}  // namespace loss
}  // namespace nervo
