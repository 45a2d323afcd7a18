// Vectorized float math written once over any Vec type (vec_ref.h, vec_avx2.h, vec_avx512.h).
// Included inside the per-ISA namespace by each kernel translation unit.
//
// Accuracy of the float32 versions, measured against float64 by tests/ops/test_vmath.py over
// dense and log-spaced samples of each function's range (special values: tests/ops/test_act.py);
// worst case over the generic and AVX2 levels, then the bound the test enforces:
//   exp      1.2 ulp (<= 2)  Cody-Waite reduction, degree-7 Taylor on |r| <= ln2/2, two-step
//                            scaling so results underflow gradually and overflow to inf
//   expm1    2.1 ulp (<= 2.5) degree-11 Taylor for |x| < 1, exp(x) - 1 elsewhere
//   log      1.8 ulp (<= 2)  atanh series on the mantissa in [sqrt(1/2), sqrt(2))
//   log1p    2.9 ulp (<= 3)  log(1+x) with Goldberg's correction
//   tanh     1.4 ulp (<= 3)  odd Taylor polynomial for |x| < 0.55, 1 - 2/(exp(2|x|)+1) above
//   sigmoid  2.5 ulp (<= 3)
//   erf      2.5 ulp (<= 4)  Taylor series for |x| < 1, 1 - erfc above
//   erfc_pos 1.5e-5 relative (<= 2e-5) for 0 <= z <= 9: the fit's 1.2e-7 plus float32 rounding of
//            the polynomial and of -z^2 before exp (absolute error <= 4e-7)
//   erf_rational  4.2e-7 absolute (7 ulp near |erf| = 1); no relative accuracy where 1 + erf(x)
//            cancels (x < -3)
// NaN inputs give NaN outputs everywhere.
//
// float64 (always the one-lane VecS<double>: every ISA level runs float64 through the generic
// kernels) calls the C library instead: the polynomials above are sized for float32, and float64
// is what gradient checks and reference comparisons run in, so it gets full double precision.
#pragma once
#include <cmath>
#include <type_traits>

namespace nervo {
namespace NERVO_ISA_NS {
namespace vm {

template <class V>
inline constexpr bool kLibm = std::is_same_v<typename V::value_type, double>;

template <class V>
inline V exp(V x) {
  if constexpr (kLibm<V>) return V{std::exp(x.v)};
  else {
  using T = typename V::value_type;
  // Beyond these, float (double) results are inf or 0 after rounding.
  const bool f32 = sizeof(T) == 4;
  const V hi = V::set1(T(f32 ? 89.0 : 710.0)), lo = V::set1(T(f32 ? -104.0 : -746.0));
  V xc = min(max(x, lo), hi);   // keeps n in range; NaN handled below
  V n = round_even(xc * V::set1(T(1.44269504088896341)));
  V r = fma(n, V::set1(T(-0.693359375)), xc);            // ln2 split in two (Cody-Waite)
  r = fma(n, V::set1(T(2.12194440e-4)), r);
  V p = V::set1(T(1.0 / 5040));
  p = fma(p, r, V::set1(T(1.0 / 720)));
  p = fma(p, r, V::set1(T(1.0 / 120)));
  p = fma(p, r, V::set1(T(1.0 / 24)));
  p = fma(p, r, V::set1(T(1.0 / 6)));
  p = fma(p, r, V::set1(T(0.5)));
  p = fma(p, r, V::set1(T(1.0)));
  p = fma(p, r, V::set1(T(1.0)));
  // 2^n in two factors, each a normal number, so n in [-150, 128] ([-1076, 1024]) scales correctly.
  V n1 = round_even(n * V::set1(T(0.5)));
  V n2 = n - n1;
  V res = p * pow2n(n1) * pow2n(n2);
  return select(isnan(x), x, res);
  }
}

// exp(x) - 1, accurate near 0: Taylor series for |x| < 1 (truncation 2e-9 relative), exp(x) - 1
// elsewhere, where exp(x) / |exp(x) - 1| <= 1.6 keeps the cancellation to an ulp or so.
template <class V>
inline V expm1(V x) {
  if constexpr (kLibm<V>) return V{std::expm1(x.v)};
  else {
  using T = typename V::value_type;
  V p = V::set1(T(1.0 / 39916800));
  p = fma(p, x, V::set1(T(1.0 / 3628800)));
  p = fma(p, x, V::set1(T(1.0 / 362880)));
  p = fma(p, x, V::set1(T(1.0 / 40320)));
  p = fma(p, x, V::set1(T(1.0 / 5040)));
  p = fma(p, x, V::set1(T(1.0 / 720)));
  p = fma(p, x, V::set1(T(1.0 / 120)));
  p = fma(p, x, V::set1(T(1.0 / 24)));
  p = fma(p, x, V::set1(T(1.0 / 6)));
  p = fma(p, x, V::set1(T(0.5)));
  V small = fma(p * x, x, x);
  V large = exp(x) - V::set1(T(1.0));
  V res = select(abs(x) < V::set1(T(1.0)), small, large);
  return select(isnan(x), x, res);
  }
}

template <class V>
inline V log(V x) {
  if constexpr (kLibm<V>) return V{std::log(x.v)};
  else {
  using T = typename V::value_type;
  // Denormals: scale into the normal range first.
  auto tiny = x < V::set1(T(1.1754943508222875e-38));
  V xs = select(tiny, x * V::set1(T(8388608.0)), x);    // 2^23
  V m, e;
  frexp12(xs, m, e);
  e = select(tiny, e - V::set1(T(23.0)), e);
  auto big = m > V::set1(T(1.41421356237309505));
  m = select(big, m * V::set1(T(0.5)), m);
  e = select(big, e + V::set1(T(1.0)), e);
  V f = m - V::set1(T(1.0));
  V s = f / (f + V::set1(T(2.0)));
  V s2 = s * s;
  V p = V::set1(T(1.0 / 11));
  p = fma(p, s2, V::set1(T(1.0 / 9)));
  p = fma(p, s2, V::set1(T(1.0 / 7)));
  p = fma(p, s2, V::set1(T(1.0 / 5)));
  p = fma(p, s2, V::set1(T(1.0 / 3)));
  p = p * s2;
  // log(m) = 2s + 2s*p  (= f - f*s + s*p*2... kept in the simple, accurate form)
  V lm = fma(V::set1(T(2.0)) * s, p, V::set1(T(2.0)) * s);
  V res = fma(e, V::set1(T(0.693147180559945309)), lm);
  const V inf = V::set1(T(INFINITY));
  res = select(x <= V::zero(), select(x < V::zero(), V::set1(T(NAN)), -inf), res);
  res = select(x >= inf, inf, res);
  return select(isnan(x), x, res);
  }
}

// log(1 + x), accurate for tiny x: log(u) * x / (u - 1) with u = 1 + x rounded (Goldberg).
template <class V>
inline V log1p(V x) {
  if constexpr (kLibm<V>) return V{std::log1p(x.v)};
  else {
  using T = typename V::value_type;
  V u = x + V::set1(T(1.0));
  V d = u - V::set1(T(1.0));
  V res = log(u) * (x / d);
  res = select(abs(d) <= V::zero(), x, res);
  return select(u >= V::set1(T(INFINITY)), u, res);
  }
}

// 1 / (1 + exp(-x)) without overflow: exp of -|x| only, mirrored for x < 0.
template <class V>
inline V sigmoid(V x) {
  using T = typename V::value_type;
  V z = exp(-abs(x));
  V one = V::set1(T(1.0));
  V r = one / (one + z);           // sigmoid(|x|)
  return select(x < V::zero(), z * r, r);
}

template <class V>
inline V tanh(V x) {
  if constexpr (kLibm<V>) return V{std::tanh(x.v)};
  else {
  using T = typename V::value_type;
  V ax = abs(x);
  // Small |x|: odd Taylor series through x^17 (truncation < 1e-9 relative at 0.55).
  V x2 = x * x;
  V p = V::set1(T(0.0005900274409455859));             // x^17
  p = fma(p, x2, V::set1(T(-0.0014558343870513183)));  // x^15
  p = fma(p, x2, V::set1(T(0.003592128036572481)));    // x^13
  p = fma(p, x2, V::set1(T(-0.008863235529902197)));   // x^11
  p = fma(p, x2, V::set1(T(0.021869488536155203)));    // x^9
  p = fma(p, x2, V::set1(T(-0.05396825396825397)));    // x^7
  p = fma(p, x2, V::set1(T(0.13333333333333333)));     // x^5
  p = fma(p, x2, V::set1(T(-0.3333333333333333)));     // x^3
  V small = fma(p * x2, x, x);
  V one = V::set1(T(1.0));
  V e = exp(ax + ax);
  V large = copysign(one - V::set1(T(2.0)) / (e + one), x);
  V res = select(ax < V::set1(T(0.55)), small, large);
  return select(isnan(x), x, res);
  }
}

// erfc(z) for z >= 0: Chebyshev fit t*exp(-z^2 + P(t)), t = 1/(1 + z/2), relative error
// < 1.2e-7 over the whole range (Numerical Recipes' erfcc), so tails keep full relative precision.
template <class V>
inline V erfc_pos(V z) {
  if constexpr (kLibm<V>) return V{std::erfc(z.v)};
  else {
  using T = typename V::value_type;
  V one = V::set1(T(1.0));
  V t = one / fma(V::set1(T(0.5)), z, one);
  V p = V::set1(T(0.17087277));
  p = fma(p, t, V::set1(T(-0.82215223)));
  p = fma(p, t, V::set1(T(1.48851587)));
  p = fma(p, t, V::set1(T(-1.13520398)));
  p = fma(p, t, V::set1(T(0.27886807)));
  p = fma(p, t, V::set1(T(-0.18628806)));
  p = fma(p, t, V::set1(T(0.09678418)));
  p = fma(p, t, V::set1(T(0.37409196)));
  p = fma(p, t, V::set1(T(1.00002368)));
  p = fma(p, t, V::set1(T(-1.26551223)));
  return t * exp(p - z * z);
  }
}

// erf(x): Taylor series for |x| < 1 (12 terms), 1 - erfc(|x|) with the sign of x above.
template <class V>
inline V erf(V x) {
  if constexpr (kLibm<V>) return V{std::erf(x.v)};
  else {
  using T = typename V::value_type;
  V ax = abs(x);
  V x2 = x * x;
  // 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
  const double c = 2.0 / 1.7724538509055160;
  V p = V::set1(T(-c / (39916800.0 * 23)));
  p = fma(p, x2, V::set1(T(c / (3628800.0 * 21))));
  p = fma(p, x2, V::set1(T(-c / (362880.0 * 19))));
  p = fma(p, x2, V::set1(T(c / (40320.0 * 17))));
  p = fma(p, x2, V::set1(T(-c / (5040.0 * 15))));
  p = fma(p, x2, V::set1(T(c / (720.0 * 13))));
  p = fma(p, x2, V::set1(T(-c / (120.0 * 11))));
  p = fma(p, x2, V::set1(T(c / (24.0 * 9))));
  p = fma(p, x2, V::set1(T(-c / (6.0 * 7))));
  p = fma(p, x2, V::set1(T(c / (2.0 * 5))));
  p = fma(p, x2, V::set1(T(-c / 3.0)));
  p = fma(p, x2, V::set1(T(c)));
  V small = p * x;
  V large = copysign(V::set1(T(1.0)) - erfc_pos(ax), x);
  V res = select(ax < V::set1(T(1.0)), small, large);
  return select(isnan(x), x, res);
  }
}

// erf(x) for float32 without exp: the odd/even rational minimax fit x P(x^2) / Q(x^2) on
// [-4, 4] used by Eigen and XLA (inputs clamped: |erf| rounds to 1 beyond). 11 FMA + 1 division.
// Absolute accuracy only (see the table above); NaN inputs give NaN.
template <class V>
inline V erf_rational(V x) {
  using T = typename V::value_type;
  const V xc = min(max(x, V::set1(T(-4.0))), V::set1(T(4.0)));
  const V x2 = xc * xc;
  V p = V::set1(T(-2.72614225801306e-10));
  p = fma(p, x2, V::set1(T(2.77068142495902e-08)));
  p = fma(p, x2, V::set1(T(-2.10102402082508e-06)));
  p = fma(p, x2, V::set1(T(-5.69250639462346e-05)));
  p = fma(p, x2, V::set1(T(-7.34990630326855e-04)));
  p = fma(p, x2, V::set1(T(-2.95459980854025e-03)));
  p = fma(p, x2, V::set1(T(-1.60960333262415e-02)));
  V q = V::set1(T(-1.45660718464996e-05));
  q = fma(q, x2, V::set1(T(-2.13374055278905e-04)));
  q = fma(q, x2, V::set1(T(-1.68282697438203e-03)));
  q = fma(q, x2, V::set1(T(-7.37332916720468e-03)));
  q = fma(q, x2, V::set1(T(-1.42647390514189e-02)));
  return select(isnan(x), x, xc * p / q);
}

}  // namespace vm
}  // namespace NERVO_ISA_NS
}  // namespace nervo
