// Fused optimizer steps: one pass over memory updates a parameter and its state in place.
//
// Sizes: n elements; param, grad and every state buffer are contiguous arrays of n elements
// (one parameter, or a flat buffer holding many). All buffers are updated in place (overwritten);
// grad is only read. The update rules are torch.optim's (2.13, single-tensor and fused CPU
// implementations), term for term and in the same order, so 100 steps match torch to ~1e-7:
//
//   g = maximize ? -grad : grad
// sgd:     g += wd * p;  if momentum: buf = first ? g : momentum * buf + (1 - dampening) * g;
//          g = nesterov ? g + momentum * buf : buf;            p -= lr * g
// adam:    AdamW: p *= 1 - lr * wd  |  Adam: g += wd * p
//          m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
//          vmax = max(vmax, v) (amsgrad);  denom = sqrt(v or vmax) / sqrt(1 - beta2^t) + eps
//          p -= lr / (1 - beta1^t) * m / denom
// rmsprop: g += wd * p;  v = alpha * v + (1 - alpha) * g * g;  centered: ga = lerp(ga, g, 1 - alpha),
//          avg = sqrt(v - ga * ga) + eps, else avg = sqrt(v) + eps;
//          momentum: buf = momentum * buf + g / avg, p -= lr * buf;  else p -= lr * g / avg
// adagrad: g += wd * p;  sum += g * g;  p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
#pragma once
#include <cstdint>

namespace nervo {
namespace optim {

template <class T>
struct SgdArgs {
  T* param; const T* grad; T* buf;  // buf nullptr when momentum == 0
  int64_t n;
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;
};

template <class T>
struct AdamArgs {
  T* param; const T* grad; T* exp_avg; T* exp_avg_sq; T* max_exp_avg_sq;  // last: amsgrad only
  int64_t n;
  int64_t step;  // 1 on the first step
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled, maximize;  // decoupled: AdamW
};

template <class T>
struct RmspropArgs {
  T* param; const T* grad; T* square_avg; T* grad_avg; T* momentum_buf;  // optional: centered, momentum
  int64_t n;
  double lr, alpha, eps, weight_decay, momentum;
  bool maximize;
};

template <class T>
struct AdagradArgs {
  T* param; const T* grad; T* state_sum;
  int64_t n;
  int64_t step;
  double lr, lr_decay, weight_decay, eps;
  bool maximize;
};

template <class T>
struct Kernels1 {
  void (*sgd)(const SgdArgs<T>&);
  void (*adam)(const AdamArgs<T>&);
  void (*rmsprop)(const RmspropArgs<T>&);
  void (*adagrad)(const AdagradArgs<T>&);
  // sum of x^2 (p == 2), max |x| (p == inf) or sum |x|^p, accumulated in double in fixed chunks.
  double (*norm_accum)(const T* x, int64_t n, double p);
  void (*scale)(T* x, int64_t n, double s);
};

struct Kernels {
  Kernels1<float> f32;
  Kernels1<double> f64;
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call
const Kernels& kernels();

}  // namespace optim
}  // namespace nervo
