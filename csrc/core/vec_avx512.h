// 16 x float32 in a zmm register (AVX-512 F/DQ). The interface every Vec type provides
// (vec_ref.h and vec_avx2.h have the same): load/store (+ _partial for the tail, which never
// touches memory past n), arithmetic, fma, max/min (return the second operand when either is NaN),
// comparisons to a Mask, select(mask, a, b), round_even, pow2n, frexp12, reductions.
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace nervo {
namespace NERVO_ISA_NS {

struct Vec16f {
  using value_type = float;
  using Mask = __mmask16;
  static constexpr int width = 16;
  __m512 v;

  static Vec16f set1(float x) { return {_mm512_set1_ps(x)}; }
  static Vec16f zero() { return {_mm512_setzero_ps()}; }
  static Vec16f load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static __mmask16 tail_mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static Vec16f load_partial(const float* p, int n) { return {_mm512_maskz_loadu_ps(tail_mask(n), p)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, tail_mask(n), v); }

  friend Vec16f operator+(Vec16f a, Vec16f b) { return {_mm512_add_ps(a.v, b.v)}; }
  friend Vec16f operator-(Vec16f a, Vec16f b) { return {_mm512_sub_ps(a.v, b.v)}; }
  friend Vec16f operator*(Vec16f a, Vec16f b) { return {_mm512_mul_ps(a.v, b.v)}; }
  friend Vec16f operator/(Vec16f a, Vec16f b) { return {_mm512_div_ps(a.v, b.v)}; }
  friend Vec16f operator-(Vec16f a) {
    return {_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a.v), _mm512_set1_epi32(int(0x80000000u))))};
  }
  friend Vec16f fma(Vec16f a, Vec16f b, Vec16f c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  friend Vec16f max(Vec16f a, Vec16f b) { return {_mm512_max_ps(a.v, b.v)}; }
  friend Vec16f min(Vec16f a, Vec16f b) { return {_mm512_min_ps(a.v, b.v)}; }
  friend Vec16f abs(Vec16f a) { return {_mm512_abs_ps(a.v)}; }
  friend Vec16f round_even(Vec16f a) {
    return {_mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
  }
  friend Mask operator<(Vec16f a, Vec16f b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LT_OQ); }
  friend Mask operator<=(Vec16f a, Vec16f b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_LE_OQ); }
  friend Mask operator>(Vec16f a, Vec16f b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ); }
  friend Mask operator>=(Vec16f a, Vec16f b) { return _mm512_cmp_ps_mask(a.v, b.v, _CMP_GE_OQ); }
  friend Mask isnan(Vec16f a) { return _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q); }
  friend Vec16f select(Mask m, Vec16f a, Vec16f b) { return {_mm512_mask_blend_ps(m, b.v, a.v)}; }
  friend Vec16f copysign(Vec16f mag, Vec16f sign) {
    const __m512i s = _mm512_set1_epi32(int(0x80000000u));
    // imm 0xac: sign-bit mask ? sign : mag, bit by bit.
    __m512i r = _mm512_ternarylogic_epi32(s, _mm512_castps_si512(mag.v), _mm512_castps_si512(sign.v), 0xac);
    return {_mm512_castsi512_ps(r)};
  }
  friend Vec16f pow2n(Vec16f n) {
    __m512i i = _mm512_add_epi32(_mm512_cvtps_epi32(n.v), _mm512_set1_epi32(127));
    return {_mm512_castsi512_ps(_mm512_slli_epi32(i, 23))};
  }
  friend void frexp12(Vec16f x, Vec16f& m, Vec16f& e) {
    e.v = _mm512_getexp_ps(x.v);
    m.v = _mm512_getmant_ps(x.v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  }
  friend float reduce_add(Vec16f a) { return _mm512_reduce_add_ps(a.v); }
  friend float reduce_max(Vec16f a) { return _mm512_reduce_max_ps(a.v); }
};

}  // namespace NERVO_ISA_NS
}  // namespace nervo
