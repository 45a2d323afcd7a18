// Inverted dropout with a counter-based RNG: the keep mask is a pure function of (seed, element
// index), so it is never stored, is identical for any thread count, and the numba backend
// (python/nervo/backend/numba/dropout.py) reproduces it bit for bit.
//
// Sizes: n elements, contiguous. Element i of a call uses the global index e = offset + i:
//   Philox4x32-10 (Salmon et al., SC'11) with key (seed lo, seed hi) and counter
//   (block lo, block hi, 0, 0), block = e / 4, gives four 32-bit words; word e % 4 is u.
//   keep(e) = u >= threshold,  threshold = min(2^32, round(p * 2^32))   (P(keep) = 1 - p)
//   apply:  out[i] = keep ? in[i] * scale : 0,   scale = 1 / (1 - p) rounded to T
// The same apply serves forward (in = x) and backward (in = dy). out may alias in.
// A caller making several calls advances offset by n each time so streams never overlap.
#pragma once
#include <cstdint>

namespace nervo {
namespace dropout {

struct Philox {
  uint32_t out[4];
};

// The four words of Philox4x32-10 for counter (c0, c1, 0, 0) and key (k0, k1).
inline Philox philox4x32_10(uint32_t c0, uint32_t c1, uint32_t k0, uint32_t k1) {
  uint32_t c2 = 0, c3 = 0;
  for (int r = 0; r < 10; ++r) {
    if (r) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return {{c0, c1, c2, c3}};
}

// keep iff u >= threshold; threshold = 2^32 (never keep) only for p that rounds to 1.
inline uint64_t threshold(double p) {
  const double t = p * 4294967296.0;
  return t >= 4294967296.0 ? uint64_t(1) << 32 : static_cast<uint64_t>(t + 0.5);
}

template <class T>
using ApplyFn = void (*)(const T* in, T* out, int64_t n, double p, uint64_t seed, uint64_t offset);

struct Kernels {
  ApplyFn<float> apply_f32;
  ApplyFn<double> apply_f64;
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call
const Kernels& kernels();

}  // namespace dropout
}  // namespace nervo
