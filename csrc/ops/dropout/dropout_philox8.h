// Dropout apply for float32 with eight Philox4x32-10 blocks per AVX2 register (32 elements per
// step): the 32x32->64 multiplies run as _mm256_mul_epu32 on the even and the odd lanes, and the
// 4 x 8 result words are transposed into element order with unpack/permute. Bitwise identical to
// the scalar generator in dropout.h (the tests compare both with the NumPy reference).
// Included by dropout_avx2.cpp and dropout_avx512.cpp (AVX2 instructions, valid in both).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "ops/dropout/dropout.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace dropout_philox8 {

// hi and lo 32-bit halves of m * c for the eight 32-bit lanes of c.
inline void mulhilo(__m256i m, __m256i c, __m256i& hi, __m256i& lo) {
  const __m256i pe = _mm256_mul_epu32(m, c);                           // lanes 0, 2, 4, 6
  const __m256i po = _mm256_mul_epu32(m, _mm256_srli_epi64(c, 32));    // lanes 1, 3, 5, 7
  lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
}

// Words of blocks b0 .. b0 + 7 (counter (block lo, block hi, 0, 0)), in element order:
// out[0] = elements 4 b0 + 0..7, out[1] = + 8..15, out[2] = + 16..23, out[3] = + 24..31.
inline void philox8(uint64_t b0, uint32_t k0s, uint32_t k1s, __m256i out[4]) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  // Block numbers b0 + j: low words, and high words (carry when the low word wraps).
  const __m256i lo32 = _mm256_add_epi32(_mm256_set1_epi32(int(uint32_t(b0))), iota);
  const __m256i wrapped = _mm256_cmpgt_epi32(                         // unsigned lo32 < b0 lo
      _mm256_xor_si256(_mm256_set1_epi32(int(uint32_t(b0))), _mm256_set1_epi32(int(0x80000000u))),
      _mm256_xor_si256(lo32, _mm256_set1_epi32(int(0x80000000u))));
  __m256i c0 = lo32;
  __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32(int(uint32_t(b0 >> 32))), wrapped);  // +1 on wrap
  __m256i c2 = _mm256_setzero_si256(), c3 = _mm256_setzero_si256();
  const __m256i m0 = _mm256_set1_epi64x(0xD2511F53u), m1 = _mm256_set1_epi64x(0xCD9E8D57u);
  uint32_t k0 = k0s, k1 = k1s;
  for (int r = 0; r < 10; ++r) {
    if (r) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    __m256i hi0, lo0, hi1, lo1;
    mulhilo(m0, c0, hi0, lo0);
    mulhilo(m1, c2, hi1, lo1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(int(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(int(k1)));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  // 4 x 8 transpose: lanes are blocks, vectors are words -> vectors of consecutive elements.
  const __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
  const __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
  const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
  out[0] = _mm256_permute2x128_si256(u0, u1, 0x20);  // blocks 0, 1
  out[1] = _mm256_permute2x128_si256(u2, u3, 0x20);  // blocks 2, 3
  out[2] = _mm256_permute2x128_si256(u0, u1, 0x31);  // blocks 4, 5
  out[3] = _mm256_permute2x128_si256(u2, u3, 0x31);  // blocks 6, 7
}

constexpr int64_t kChunk = 16384;

inline void apply_f32(const float* in, float* out, int64_t n, double p, uint64_t seed, uint64_t offset) {
  const uint64_t thr = dropout::threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  const uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  // keep iff u >= thr (unsigned): signed compare after flipping the sign bits; thr == 2^32 never
  // keeps, which the all-ones/zero constants below express.
  const bool never = thr >> 32;
  const __m256i flip = _mm256_set1_epi32(int(0x80000000u));
  const __m256i thr_s = _mm256_xor_si256(_mm256_set1_epi32(int(uint32_t(thr - 1))), flip);
  const __m256 vscale = _mm256_set1_ps(never ? 0.0f : scale);
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
    int64_t i = lo;
    auto scalar_to = [&](int64_t end) {
      while (i < end) {
        const uint64_t e = offset + uint64_t(i);
        const dropout::Philox r = dropout::philox4x32_10(uint32_t(e >> 2), uint32_t(e >> 34), k0, k1);
        out[i] = uint64_t(r.out[e & 3]) >= thr ? in[i] * scale : 0.0f;
        ++i;
      }
    };
    // Peel to a block boundary (e % 4 == 0), then 32 elements (8 blocks) per step.
    scalar_to(std::min(hi, i + int64_t((4 - ((offset + uint64_t(i)) & 3)) & 3)));
    for (; i + 32 <= hi; i += 32) {
      __m256i u[4];
      philox8((offset + uint64_t(i)) >> 2, k0, k1, u);
      for (int k = 0; k < 4; ++k) {
        // u > thr - 1  <=>  u >= thr (thr >= 1 here; thr == 0 keeps all: thr - 1 wraps to
        // 0xffffffff and the compare is false, so handle it by the select below).
        const __m256i gt = _mm256_cmpgt_epi32(_mm256_xor_si256(u[k], flip), thr_s);
        const __m256 keep = thr == 0 ? _mm256_castsi256_ps(_mm256_set1_epi32(-1)) : _mm256_castsi256_ps(gt);
        const __m256 x = _mm256_loadu_ps(in + i + 8 * k);
        _mm256_storeu_ps(out + i + 8 * k, _mm256_and_ps(keep, _mm256_mul_ps(x, vscale)));
      }
    }
    scalar_to(hi);
  }
}

}  // namespace dropout_philox8
}  // namespace NERVO_ISA_NS
}  // namespace nervo
