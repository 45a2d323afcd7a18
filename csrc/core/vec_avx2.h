// 8 x float32 in a ymm register (AVX2 + FMA). Same interface as vec_avx512.h.
#pragma once
#include <immintrin.h>
#include <cstdint>

namespace nervo {
namespace NERVO_ISA_NS {

struct Vec8f {
  using value_type = float;
  using Mask = __m256;
  static constexpr int width = 8;
  __m256 v;

  static Vec8f set1(float x) { return {_mm256_set1_ps(x)}; }
  static Vec8f zero() { return {_mm256_setzero_ps()}; }
  static Vec8f load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static __m256i tail_mask(int n) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
  }
  static Vec8f load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, tail_mask(n))}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, tail_mask(n), v); }

  friend Vec8f operator+(Vec8f a, Vec8f b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend Vec8f operator-(Vec8f a, Vec8f b) { return {_mm256_sub_ps(a.v, b.v)}; }
  friend Vec8f operator*(Vec8f a, Vec8f b) { return {_mm256_mul_ps(a.v, b.v)}; }
  friend Vec8f operator/(Vec8f a, Vec8f b) { return {_mm256_div_ps(a.v, b.v)}; }
  friend Vec8f operator-(Vec8f a) { return {_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))}; }
  friend Vec8f fma(Vec8f a, Vec8f b, Vec8f c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  friend Vec8f max(Vec8f a, Vec8f b) { return {_mm256_max_ps(a.v, b.v)}; }
  friend Vec8f min(Vec8f a, Vec8f b) { return {_mm256_min_ps(a.v, b.v)}; }
  friend Vec8f abs(Vec8f a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
  friend Vec8f round_even(Vec8f a) {
    return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)};
  }
  friend Mask operator<(Vec8f a, Vec8f b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ); }
  friend Mask operator<=(Vec8f a, Vec8f b) { return _mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ); }
  friend Mask operator>(Vec8f a, Vec8f b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ); }
  friend Mask operator>=(Vec8f a, Vec8f b) { return _mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ); }
  friend Mask isnan(Vec8f a) { return _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q); }
  friend Vec8f select(Mask m, Vec8f a, Vec8f b) { return {_mm256_blendv_ps(b.v, a.v, m)}; }
  friend Vec8f copysign(Vec8f mag, Vec8f sign) {
    const __m256 s = _mm256_set1_ps(-0.0f);
    return {_mm256_or_ps(_mm256_andnot_ps(s, mag.v), _mm256_and_ps(s, sign.v))};
  }
  friend Vec8f pow2n(Vec8f n) {
    __m256i i = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(i, 23))};
  }
  friend void frexp12(Vec8f x, Vec8f& m, Vec8f& e) {
    __m256i bits = _mm256_castps_si256(x.v);
    __m256i ex = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127));
    e.v = _mm256_cvtepi32_ps(ex);
    m.v = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                              _mm256_set1_epi32(0x3f800000)));
  }
  friend float reduce_add(Vec8f a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  friend float reduce_max(Vec8f a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace NERVO_ISA_NS
}  // namespace nervo
