// Portable "vector" of one lane, so the kernels written once over a Vec type (vmath.h, ops/*_impl.h)
// compile to plain C++ for the generic level and for float64. Included inside the ISA namespace by
// the *_ref.cpp translation units (see vec_avx512.h for the interface every Vec provides).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace nervo {
namespace NERVO_ISA_NS {

template <class T>
struct VecS {
  using value_type = T;
  using Mask = bool;
  static constexpr int width = 1;
  T v;

  static VecS set1(T x) { return {x}; }
  static VecS zero() { return {T(0)}; }
  static VecS load(const T* p) { return {*p}; }
  static VecS load_partial(const T* p, int n) { return {n > 0 ? *p : T(0)}; }
  void store(T* p) const { *p = v; }
  void store_partial(T* p, int n) const { if (n > 0) *p = v; }

  friend VecS operator+(VecS a, VecS b) { return {a.v + b.v}; }
  friend VecS operator-(VecS a, VecS b) { return {a.v - b.v}; }
  friend VecS operator*(VecS a, VecS b) { return {a.v * b.v}; }
  friend VecS operator/(VecS a, VecS b) { return {a.v / b.v}; }
  friend VecS operator-(VecS a) { return {-a.v}; }
  // a*b + c. NOTE: not std::fma: baseline x86-64 has no FMA instruction and std::fma would be a
  // slow library call; the result may differ from the SIMD levels in the last bit.
  friend VecS fma(VecS a, VecS b, VecS c) { return {a.v * b.v + c.v}; }
  // max/min return b when either is NaN, like maxps/minps: max(zero, x) propagates a NaN x.
  friend VecS max(VecS a, VecS b) { return {a.v > b.v ? a.v : b.v}; }
  friend VecS min(VecS a, VecS b) { return {a.v < b.v ? a.v : b.v}; }
  friend VecS abs(VecS a) { return {std::fabs(a.v)}; }
  friend VecS round_even(VecS a) { return {std::nearbyint(a.v)}; }
  friend Mask operator<(VecS a, VecS b) { return a.v < b.v; }
  friend Mask operator<=(VecS a, VecS b) { return a.v <= b.v; }
  friend Mask operator>(VecS a, VecS b) { return a.v > b.v; }
  friend Mask operator>=(VecS a, VecS b) { return a.v >= b.v; }
  friend Mask isnan(VecS a) { return a.v != a.v; }
  friend VecS select(Mask m, VecS a, VecS b) { return m ? a : b; }
  friend VecS copysign(VecS mag, VecS sign) { return {std::copysign(mag.v, sign.v)}; }
  // 2^n for integral n in [-126, 127].
  friend VecS pow2n(VecS n) { return {std::ldexp(T(1), static_cast<int>(n.v))}; }
  // x = m * 2^e with m in [1, 2), for positive normal x.
  friend void frexp12(VecS x, VecS& m, VecS& e) {
    int ex;
    T f = std::frexp(x.v, &ex);   // f in [0.5, 1)
    m.v = f * T(2);
    e.v = static_cast<T>(ex - 1);
  }
  friend T reduce_add(VecS a) { return a.v; }
  friend T reduce_max(VecS a) { return a.v; }
};

}  // namespace NERVO_ISA_NS
}  // namespace nervo
