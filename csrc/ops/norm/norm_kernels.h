// The per-ISA pieces of the normalization family: vectorized passes over one contiguous run of
// n elements (a channel's plane, a layer-norm row), one table per ISA level, each defined in its
// own translation unit (norm_ref.cpp, norm_avx2.cpp, norm_avx512.cpp). The loops over channels,
// rows and groups, and the threading, live once in norm.cpp.
//
// Sums: float lanes over blocks of at most kSumBlock elements, each block's total added to a
// double, so a 100k-element channel keeps ~1e-7 relative accuracy. Outputs written with `=`,
// sums returned or added (`+=`) to the double arguments as stated.
#pragma once
#include <cstdint>

namespace nervo {
namespace norm {

template <class T>
struct RowKernels {
  double (*sum)(const T* x, int64_t n);                                    // sum x
  double (*sumsq_dev)(const T* x, int64_t n, double m);                    // sum (x - m)^2
  // s_dy += sum dy, s_dyx += sum dy * (x - m)
  void (*sum_dy_dyx)(const T* dy, const T* x, int64_t n, double m, double* s_dy, double* s_dyx);
  void (*affine)(const T* x, T* y, int64_t n, T a, T b);                   // y = a*x + b
  void (*affine2)(const T* dy, const T* x, T* dx, int64_t n, T a, T b, T c);  // dx = a*dy + b*x + c
  // y = (x - m) * r * w + b (w, b may be nullptr: 1 and 0)
  void (*scale_shift)(const T* x, const T* w, const T* b, T* y, int64_t n, T m, T r);
  // s_g += sum dy*w, s_gx += sum dy*w*(x - m) (w may be nullptr)
  void (*sum_gw)(const T* dy, const T* x, const T* w, int64_t n, double m, double* s_g,
                 double* s_gx);
  // dx = r * (dy*w - a1 - (x - m) * a2) (w may be nullptr)
  void (*ln_dx)(const T* dy, const T* x, const T* w, T* dx, int64_t n, T m, T r, T a1, T a2);
};

// NOTE: f64 is a pointer to the one generic table: every table must be constant-initialized (a
// struct copy in the AVX-512 translation unit's dynamic initializer would run AVX-512 code at
// import on any CPU).
struct Kernels {
  RowKernels<float> f32;
  const RowKernels<double>* f64;
};

extern const RowKernels<double> rows_f64_ref;
extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call

// The table for nervo::current_isa().
const Kernels& kernels();

template <class T>
const RowKernels<T>& row_kernels();
template <>
inline const RowKernels<float>& row_kernels<float>() { return kernels().f32; }
template <>
inline const RowKernels<double>& row_kernels<double>() { return *kernels().f64; }

}  // namespace norm
}  // namespace nervo
