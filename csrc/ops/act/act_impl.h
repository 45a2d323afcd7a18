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

// Outputs at least this large are written with non-temporal (streaming) stores: they cannot stay
// in the 32 MiB L3 next to their inputs anyway, and a streaming store skips the read-for-ownership
// a normal store makes, so forward moves 2 bytes per output byte instead of 3 (backward 3 instead
// of 4). Smaller outputs use normal stores and stay in cache for the next op. The ISA translation
// unit provides stream(V, T*) (aligned) and stream_fence().
constexpr int64_t kStreamBytes = int64_t(8) << 20;

// Elements before p reaches the vector alignment stream() needs (-1: p is not even T-aligned).
template <class V>
inline int64_t misalign(const typename V::value_type* p) {
  using T = typename V::value_type;
  constexpr uintptr_t A = sizeof(T) * V::width;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a % sizeof(T)) return -1;
  return static_cast<int64_t>(((A - a % A) % A) / sizeof(T));
}

// Applies g(i, r) to elements [i, i + r) of one chunk [lo, hi), r == W except at the edges, and
// stores through `out` with streaming stores when `nt`: g returns the value, put() stores it.
template <class V, class G>
inline void chunk_loop(int64_t lo, int64_t hi, typename V::value_type* out, bool nt, const G& g) {
  constexpr int W = V::width;
  int64_t i = lo;
  if (nt) {
    const int64_t head = std::min<int64_t>(hi - i, misalign<V>(out + i));
    if (head > 0) {
      g(i, static_cast<int>(head)).store_partial(out + i, static_cast<int>(head));
      i += head;
    }
    for (; i + W <= hi; i += W) stream(g(i, W), out + i);
    stream_fence();
  } else {
    for (; i + W <= hi; i += W) g(i, W).store(out + i);
  }
  if (i < hi) {
    const int r = static_cast<int>(hi - i);
    g(i, r).store_partial(out + i, r);
  }
}

template <class V>
inline V load_n(const typename V::value_type* p, int r) {
  return r == V::width ? V::load(p) : V::load_partial(p, r);
}

template <class V, class F>
void map_forward(const F& f, const typename V::value_type* x, typename V::value_type* y, int64_t n) {
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  const bool nt = n * int64_t(sizeof(*y)) >= kStreamBytes && misalign<V>(y) >= 0;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c)
    chunk_loop<V>(c * kChunk, std::min(n, (c + 1) * kChunk), y, nt,
                  [&](int64_t i, int r) { return f.fwd(load_n<V>(x + i, r)); });
}

template <class V, class F>
void map_backward(const F& f, const typename V::value_type* s, const typename V::value_type* dy,
                  typename V::value_type* dx, int64_t n) {
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  const bool nt = n * int64_t(sizeof(*dx)) >= kStreamBytes && misalign<V>(dx) >= 0;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c)
    chunk_loop<V>(c * kChunk, std::min(n, (c + 1) * kChunk), dx, nt, [&](int64_t i, int r) {
      return f.bwd(load_n<V>(s + i, r), load_n<V>(dy + i, r));
    });
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
struct Gelu {  // exact: x * Phi(x)
  using T = typename V::value_type;
  // float32: Phi from vm::erf_rational (no exp; absolute error of gelu <= ~1e-6 at x ~ -4.7, where
  // |gelu| ~ 6e-6 and torch's own erf is no more accurate). float64: erfc of |x|/sqrt(2), which
  // keeps the x < 0 tail's relative precision.
  static constexpr bool kFast = sizeof(T) == 4;
  explicit Gelu(Params) {}
  static V cdf(V x) {
    if constexpr (kFast) {
      return fma(V::set1(T(0.5)), vm::erf_rational(x * V::set1(T(0.70710678118654752))), V::set1(T(0.5)));
    } else {
      V e = V::set1(T(0.5)) * vm::erfc_pos(abs(x) * V::set1(T(0.70710678118654752)));
      return select(x < V::zero(), e, V::set1(T(1.0)) - e);
    }
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

template <class V>
struct VmathOne {
  act::Vmath fn;
  V fwd(V x) const {
    switch (fn) {
      case act::Vmath::exp: return vm::exp(x);
      case act::Vmath::expm1: return vm::expm1(x);
      case act::Vmath::log: return vm::log(x);
      case act::Vmath::log1p: return vm::log1p(x);
      case act::Vmath::tanh: return vm::tanh(x);
      case act::Vmath::sigmoid: return vm::sigmoid(x);
      case act::Vmath::erf: return vm::erf(x);
      case act::Vmath::erf_rational: return vm::erf_rational(x);
      case act::Vmath::erfc_pos: return vm::erfc_pos(x);
    }
    return x;
  }
};

template <class V>
void vmath_eval(act::Vmath fn, const typename V::value_type* x, typename V::value_type* y, int64_t n) {
  map_forward<V>(VmathOne<V>{fn}, x, y, n);
}

}  // namespace act_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
