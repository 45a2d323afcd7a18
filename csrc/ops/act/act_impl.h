// The activation kernels, written once over a Vec type (core/vec_*.h) and instantiated by
// act_ref.cpp, act_avx2.cpp and act_avx512.cpp inside their own ISA namespace (NERVO_ISA_NS).
// Formulas and edge cases follow torch 2.13's CPU kernels (see each functor).
#pragma once
#include <algorithm>
#include <cstdint>

#include "ops/act/act.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace act_impl {

using act::Op;
using act::Params;

// Elements per OpenMP task: 64 KiB of float32, large enough to amortize scheduling, small enough
// that 2+ threads share a 6.4M-element array evenly.
constexpr int64_t kChunk = 16384;

template <class V, class F>
void map_forward(const F& f, const typename V::value_type* x, typename V::value_type* y, int64_t n) {
  constexpr int W = V::width;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t hi = std::min(n, (c + 1) * kChunk);
    int64_t i = c * kChunk;
    for (; i + W <= hi; i += W) f.fwd(V::load(x + i)).store(y + i);
    if (i < hi) {
      const int r = static_cast<int>(hi - i);
      f.fwd(V::load_partial(x + i, r)).store_partial(y + i, r);
    }
  }
}

template <class V, class F>
void map_backward(const F& f, const typename V::value_type* s, const typename V::value_type* dy,
                  typename V::value_type* dx, int64_t n) {
  constexpr int W = V::width;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t hi = std::min(n, (c + 1) * kChunk);
    int64_t i = c * kChunk;
    for (; i + W <= hi; i += W) f.bwd(V::load(s + i), V::load(dy + i)).store(dx + i);
    if (i < hi) {
      const int r = static_cast<int>(hi - i);
      f.bwd(V::load_partial(s + i, r), V::load_partial(dy + i, r)).store_partial(dx + i, r);
    }
  }
}

template <class V>
struct Relu {  // backward from y: torch's threshold_backward (y <= 0 -> 0)
  explicit Relu(Params) {}
  V fwd(V x) const { return max(V::zero(), x); }
  V bwd(V y, V dy) const { return select(y <= V::zero(), V::zero(), dy); }
};

template <class V>
struct LeakyRelu {
  V slope;
  explicit LeakyRelu(Params p) : slope(V::set1(typename V::value_type(p.a))) {}
  V fwd(V x) const { return select(x > V::zero(), x, x * slope); }
  V bwd(V x, V dy) const { return select(x > V::zero(), dy, dy * slope); }
};

template <class V>
struct Elu {
  V alpha;
  explicit Elu(Params p) : alpha(V::set1(typename V::value_type(p.a))) {}
  V fwd(V x) const { return select(x > V::zero(), x, alpha * vm::expm1(x)); }
  V bwd(V x, V dy) const { return select(x > V::zero(), dy, dy * alpha * vm::exp(x)); }
};

template <class V>
struct Selu {
  using T = typename V::value_type;
  V scale = V::set1(T(1.0507009873554804934193349852946));
  V sa = V::set1(T(1.0507009873554804934193349852946 * 1.6732632423543772848170429916717));
  explicit Selu(Params) {}
  V fwd(V x) const { return select(x > V::zero(), scale * x, sa * vm::expm1(x)); }
  V bwd(V x, V dy) const { return select(x > V::zero(), dy * scale, dy * sa * vm::exp(x)); }
};

template <class V>
struct Gelu {  // exact: x * Phi(x); Phi from erfc of |x|/sqrt(2), so the x < 0 tail keeps precision
  using T = typename V::value_type;
  explicit Gelu(Params) {}
  static V cdf(V x) {
    V e = V::set1(T(0.5)) * vm::erfc_pos(abs(x) * V::set1(T(0.70710678118654752)));
    return select(x < V::zero(), e, V::set1(T(1.0)) - e);
  }
  V fwd(V x) const { return select(isnan(x), x, x * cdf(x)); }
  V bwd(V x, V dy) const {
    V pdf = vm::exp(V::set1(T(-0.5)) * x * x) * V::set1(T(0.39894228040143268));
    return dy * fma(x, pdf, cdf(x));
  }
};

template <class V>
struct GeluTanh {  // 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
  using T = typename V::value_type;
  explicit GeluTanh(Params) {}
  static V two_u(V x) {
    return V::set1(T(2 * 0.79788456080286536)) * fma(V::set1(T(0.044715)) * x * x, x, x);
  }
  V fwd(V x) const { return x * vm::sigmoid(two_u(x)); }
  V bwd(V x, V dy) const {
    // d/dx = s + x * s (1 - s) * 2u'(x)   with s = sigmoid(2u)
    V s = vm::sigmoid(two_u(x));
    V du2 = V::set1(T(2 * 0.79788456080286536)) *
            fma(V::set1(T(3 * 0.044715)) * x, x, V::set1(T(1.0)));
    return dy * fma(x * s * (V::set1(T(1.0)) - s), du2, s);
  }
};

template <class V>
struct Silu {
  using T = typename V::value_type;
  explicit Silu(Params) {}
  V fwd(V x) const { return x * vm::sigmoid(x); }
  V bwd(V x, V dy) const {
    V s = vm::sigmoid(x);
    return dy * s * fma(x, V::set1(T(1.0)) - s, V::set1(T(1.0)));
  }
};

template <class V>
inline V softplus1(V x) {  // log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))
  return max(x, V::zero()) + vm::log1p(vm::exp(-abs(x)));
}

template <class V>
struct Mish {
  using T = typename V::value_type;
  explicit Mish(Params) {}
  V fwd(V x) const { return x * vm::tanh(softplus1(x)); }
  V bwd(V x, V dy) const {
    V t = vm::tanh(softplus1(x));
    V s = vm::sigmoid(x);
    return dy * fma(x * s, V::set1(T(1.0)) - t * t, t);
  }
};

template <class V>
struct Sigmoid {  // backward from y
  using T = typename V::value_type;
  explicit Sigmoid(Params) {}
  V fwd(V x) const { return vm::sigmoid(x); }
  V bwd(V y, V dy) const { return dy * y * (V::set1(T(1.0)) - y); }
};

template <class V>
struct Tanh {  // backward from y
  using T = typename V::value_type;
  explicit Tanh(Params) {}
  V fwd(V x) const { return vm::tanh(x); }
  V bwd(V y, V dy) const { return dy * (V::set1(T(1.0)) - y * y); }
};

template <class V>
struct Softplus {  // torch: x*beta > threshold -> x (linear), else log1p(exp(beta x)) / beta
  using T = typename V::value_type;
  V beta, inv_beta, threshold;
  explicit Softplus(Params p)
      : beta(V::set1(T(p.a))), inv_beta(V::set1(T(1.0 / p.a))), threshold(V::set1(T(p.b))) {}
  V fwd(V x) const {
    V z = x * beta;
    return select(z > threshold, x, softplus1(z) * inv_beta);
  }
  V bwd(V x, V dy) const {
    V z = x * beta;
    return select(z > threshold, dy, dy * vm::sigmoid(z));
  }
};

template <class V>
struct Hardtanh {  // gradient 0 at and beyond the clamp limits, like torch
  using T = typename V::value_type;
  V lo, hi;
  explicit Hardtanh(Params p) : lo(V::set1(T(p.a))), hi(V::set1(T(p.b))) {}
  V fwd(V x) const { return min(hi, max(lo, x)); }   // operand order keeps NaN
  V bwd(V x, V dy) const {
    return select(x <= lo, V::zero(), select(x >= hi, V::zero(), dy));
  }
};

template <class V>
struct Hardswish {  // x * relu6(x + 3) / 6; gradient 0 at x <= -3, 1 at x >= 3 (torch 2.13)
  using T = typename V::value_type;
  explicit Hardswish(Params) {}
  V fwd(V x) const {
    V r6 = min(V::set1(T(6.0)), max(V::zero(), x + V::set1(T(3.0))));
    return x * r6 * V::set1(T(1.0 / 6.0));
  }
  V bwd(V x, V dy) const {
    V mid = dy * fma(x, V::set1(T(1.0 / 3.0)), V::set1(T(0.5)));
    return select(x <= V::set1(T(-3.0)), V::zero(), select(x < V::set1(T(3.0)), mid, dy));
  }
};

template <class V, template <class> class F>
void fwd_one(const typename V::value_type* x, typename V::value_type* y, int64_t n, Params p) {
  map_forward<V>(F<V>(p), x, y, n);
}
template <class V, template <class> class F>
void bwd_one(const typename V::value_type* s, const typename V::value_type* dy,
             typename V::value_type* dx, int64_t n, Params p) {
  map_backward<V>(F<V>(p), s, dy, dx, n);
}

#define NERVO_ACT_CASES(CALL)                                                        \
  switch (op) {                                                                     \
    case Op::relu: CALL(Relu); break;                                               \
    case Op::leaky_relu: CALL(LeakyRelu); break;                                    \
    case Op::elu: CALL(Elu); break;                                                 \
    case Op::selu: CALL(Selu); break;                                               \
    case Op::gelu: CALL(Gelu); break;                                               \
    case Op::gelu_tanh: CALL(GeluTanh); break;                                      \
    case Op::silu: CALL(Silu); break;                                               \
    case Op::mish: CALL(Mish); break;                                               \
    case Op::sigmoid: CALL(Sigmoid); break;                                         \
    case Op::tanh: CALL(Tanh); break;                                               \
    case Op::softplus: CALL(Softplus); break;                                       \
    case Op::hardtanh: CALL(Hardtanh); break;                                       \
    case Op::hardswish: CALL(Hardswish); break;                                     \
  }

template <class V>
void forward(Op op, const typename V::value_type* x, typename V::value_type* y, int64_t n, Params p) {
#define NERVO_FWD(F) fwd_one<V, F>(x, y, n, p)
  NERVO_ACT_CASES(NERVO_FWD)
#undef NERVO_FWD
}

template <class V>
void backward(Op op, const typename V::value_type* s, const typename V::value_type* dy,
              typename V::value_type* dx, int64_t n, Params p) {
#define NERVO_BWD(F) bwd_one<V, F>(s, dy, dx, n, p)
  NERVO_ACT_CASES(NERVO_BWD)
#undef NERVO_BWD
}
#undef NERVO_ACT_CASES

}  // namespace act_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
