// Direct-convolution microkernels, written once over a Vec type (core/vec_*.h) and instantiated
// by conv_avx2.cpp and conv_avx512.cpp inside their ISA namespace. Contracts in conv_kernels.h.
//
// Forward register map (KB output channels x QV vectors of output columns):
//   acc[KB][QV] accumulators, KB broadcast weights, 1 input vector: KB*QV + KB + 1 registers.
//   Per filter tap: QV input loads, KB weight broadcasts, KB*QV FMAs.
// Weight-gradient register map (KB output channels x TB filter taps):
//   acc[KB][TB] accumulators (vectors over output columns), KB dy vectors, 1 input vector.
//   Per output column vector: KB dy loads, TB input loads, KB*TB FMAs; lanes are summed at the end.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/conv/conv_kernels.h"

namespace nervo {
namespace NERVO_ISA_NS {
namespace conv_impl {

using conv::DirectFwdArgs;
using conv::DirectWgtArgs;

// The column tile starting at q0, shifted left so that a last partial tile ends exactly at Q
// (it recomputes a few columns with identical results instead of masked stores, which are slow
// on AMD cores). Rows shorter than a tile keep the masked path.
inline int64_t last_tile(int64_t q0, int64_t T, int64_t Q) {
  return (q0 + T > Q && Q >= T) ? Q - T : q0;
}

// One tile: KB output channels x QV vectors of columns starting at q0, of the output row whose
// first input row is xp. RR/SS > 0 fix the filter size at compile time (the tap loops unroll);
// 0 reads it from a.
template <class V, int KB, int QV, int RR, int SS>
__attribute__((always_inline)) inline void fwd_tile(const DirectFwdArgs& a, const float* xp,
                                                    float* y, int64_t q0) {
  constexpr int W = V::width;
  const int64_t R = RR > 0 ? RR : a.R, S = SS > 0 ? SS : a.S;
  V acc[KB][QV];
  for (int j = 0; j < KB; ++j) {
    const V b = V::set1(a.bias ? a.bias[j] : 0.0f);
    for (int v = 0; v < QV; ++v) acc[j][v] = b;
  }
  const float* wp = a.w;
  for (int64_t c = 0; c < a.C; ++c)
    for (int64_t r = 0; r < R; ++r) {
      const float* xr = xp + c * a.xcs + r * a.dh * a.xrs + q0;
      for (int64_t s = 0; s < S; ++s, wp += KB) {
        const float* xs = xr + s * a.dw;
        V wv[KB];
        for (int j = 0; j < KB; ++j) wv[j] = V::set1(wp[j]);
        for (int v = 0; v < QV; ++v) {
          const V xin = V::load(xs + v * W);
          for (int j = 0; j < KB; ++j) acc[j][v] = fma(wv[j], xin, acc[j][v]);
        }
      }
    }
  const int64_t ncols = std::min<int64_t>(QV * W, a.Q - q0);
  for (int j = 0; j < KB; ++j) {
    float* yj = y + j * a.ycs + q0;
    for (int v = 0; v < QV; ++v) {
      V out = a.relu ? max(V::zero(), acc[j][v]) : acc[j][v];  // max(0, NaN) keeps the NaN
      const int64_t col = int64_t(v) * W;
      if (col + W <= ncols)
        out.store(yj + col);
      else if (col < ncols)
        out.store_partial(yj + col, static_cast<int>(ncols - col));
    }
  }
}

template <class V, int KB, int QV, int RR, int SS>
void fwd_rows(const DirectFwdArgs& a) {
  constexpr int64_t T = int64_t(QV) * V::width;
  for (int64_t p = 0; p < a.rows; ++p) {
    const float* xp = a.xp + p * a.xrs;
    float* y = a.y + p * a.Q;
    for (int64_t q0 = 0; q0 < a.Q; q0 += T) fwd_tile<V, KB, QV, RR, SS>(a, xp, y, last_tile(q0, T, a.Q));
  }
}

template <class V, int QV, int RR, int SS>
void fwd_kb(const DirectFwdArgs& a) {
  switch (a.kb) {
    case 1: fwd_rows<V, 1, QV, RR, SS>(a); break;
    case 2: fwd_rows<V, 2, QV, RR, SS>(a); break;
    case 3: fwd_rows<V, 3, QV, RR, SS>(a); break;
    default: fwd_rows<V, 4, QV, RR, SS>(a); break;
  }
}

// Depthwise 3x3 (one input channel per output channel): the 9 weights stay in registers and
// RB = 2 output rows share their input rows: 4 input rows x 3 shifts x QV loads feed 18*QV FMAs.
// Register map (QV = 2): 9 weights + 4 accumulators + 1 input.
template <class V, int QV>
void dw3x3_rows(const DirectFwdArgs& a) {
  constexpr int W = V::width;
  constexpr int64_t T = int64_t(QV) * W;
  V wv[3][3];
  for (int r = 0; r < 3; ++r)
    for (int s = 0; s < 3; ++s) wv[r][s] = V::set1(a.w[r * 3 + s]);
  const V b = V::set1(a.bias ? a.bias[0] : 0.0f);
  int64_t p = 0;
  for (; p + 2 <= a.rows; p += 2) {
    const float* xp = a.xp + p * a.xrs;
    float* y = a.y + p * a.Q;
    for (int64_t qt = 0; qt < a.Q; qt += T) {
      const int64_t q0 = last_tile(qt, T, a.Q);
      V acc[2][QV];
      for (int i = 0; i < 2; ++i)
        for (int v = 0; v < QV; ++v) acc[i][v] = b;
      for (int ir = 0; ir < 4; ++ir) {  // input row ir feeds output row 0 (r = ir), 1 (r = ir-1)
        const float* xr = xp + ir * a.dh * a.xrs + q0;
        for (int s = 0; s < 3; ++s)
          for (int v = 0; v < QV; ++v) {
            const V xin = V::load(xr + s * a.dw + v * W);
            if (ir < 3) acc[0][v] = fma(wv[ir][s], xin, acc[0][v]);
            if (ir >= 1) acc[1][v] = fma(wv[ir - 1][s], xin, acc[1][v]);
          }
      }
      const int64_t ncols = std::min<int64_t>(T, a.Q - q0);
      for (int i = 0; i < 2; ++i)
        for (int v = 0; v < QV; ++v) {
          V out = a.relu ? max(V::zero(), acc[i][v]) : acc[i][v];
          const int64_t col = int64_t(v) * W;
          float* dst = y + i * a.Q + q0 + col;
          if (col + W <= ncols)
            out.store(dst);
          else if (col < ncols)
            out.store_partial(dst, static_cast<int>(ncols - col));
        }
    }
  }
  if (p < a.rows) {
    DirectFwdArgs rest = a;
    rest.xp = a.xp + p * a.xrs;
    rest.y = a.y + p * a.Q;
    rest.rows = a.rows - p;
    fwd_rows<V, 1, QV, 3, 3>(rest);
  }
}

template <class V, int QV>
void direct_fwd(const DirectFwdArgs& a) {
  // NOTE: the 2-row depthwise kernel assumes dilation 1 between rows (ir * dh rows apart is
  // what it reads; output rows are 1 apart), which holds for any dh only when dh == 1.
  if (a.kb == 1 && a.C == 1 && a.R == 3 && a.S == 3 && a.dh == 1) return dw3x3_rows<V, QV>(a);
  if (a.R == 3 && a.S == 3) return fwd_kb<V, QV, 3, 3>(a);
  if (a.R == 5 && a.S == 5) return fwd_kb<V, QV, 5, 5>(a);
  fwd_kb<V, QV, 0, 0>(a);
}

// Taps t0 .. t0+nt-1 (nt <= TB) of the weight gradient for KB output channels.
template <class V, int KB, int TB>
void wgt_chunk(const DirectWgtArgs& a, const int64_t* off, int64_t t0, int nt) {
  constexpr int W = V::width;
  V acc[KB][TB];
  for (int j = 0; j < KB; ++j)
    for (int t = 0; t < TB; ++t) acc[j][t] = V::zero();
  int64_t o[TB];
  for (int t = 0; t < TB; ++t) o[t] = off[t0 + std::min(t, nt - 1)];  // unused taps repeat the last
  for (int64_t p = 0; p < a.P; ++p) {
    const float* xrow = a.xp + p * a.xrs;
    const float* grow = a.dy + p * a.dyrs;
    for (int64_t q0 = 0; q0 < a.Q; q0 += W) {
      const int64_t n = std::min<int64_t>(W, a.Q - q0);
      V g[KB];
      for (int j = 0; j < KB; ++j)
        g[j] = n == W ? V::load(grow + j * a.dycs + q0)
                      : V::load_partial(grow + j * a.dycs + q0, static_cast<int>(n));
      for (int t = 0; t < TB; ++t) {
        const V xv = V::load(xrow + q0 + o[t]);
        for (int j = 0; j < KB; ++j) acc[j][t] = fma(g[j], xv, acc[j][t]);
      }
    }
  }
  const int64_t taps = a.C * a.R * a.S;
  for (int j = 0; j < KB; ++j)
    for (int t = 0; t < nt; ++t) a.acc[j * taps + t0 + t] += reduce_add(acc[j][t]);
}

template <class V, int KB, int TB>
void wgt_block(const DirectWgtArgs& a, const int64_t* off) {
  const int64_t taps = a.C * a.R * a.S;
  for (int64_t t0 = 0; t0 < taps; t0 += TB)
    wgt_chunk<V, KB, TB>(a, off, t0, static_cast<int>(std::min<int64_t>(TB, taps - t0)));
}

// Columns of masked-off lanes read the padded buffer, which the caller zeroes beyond the columns
// valid outputs use, so 0 * x never meets an inf there.
template <class V, int TB>
void direct_wgt(const DirectWgtArgs& a) {
  const int64_t taps = a.C * a.R * a.S;
  // Offsets of each tap inside the padded image: small (taps <= a few hundred).
  int64_t off_small[256];
  std::vector<int64_t> off_big;
  int64_t* off = off_small;
  if (taps > 256) {
    off_big.resize(taps);
    off = off_big.data();
  }
  for (int64_t c = 0, t = 0; c < a.C; ++c)
    for (int64_t r = 0; r < a.R; ++r)
      for (int64_t s = 0; s < a.S; ++s, ++t) off[t] = c * a.xcs + r * a.dh * a.xrs + s * a.dw;
  int64_t j = 0;
  DirectWgtArgs b = a;
  for (; j + 2 <= a.kb; j += 2) {
    b.dy = a.dy + j * a.dycs;
    b.acc = a.acc + j * taps;
    wgt_block<V, 2, TB>(b, off);
  }
  for (; j < a.kb; ++j) {
    b.dy = a.dy + j * a.dycs;
    b.acc = a.acc + j * taps;
    wgt_block<V, 1, TB>(b, off);
  }
}

}  // namespace conv_impl
}  // namespace NERVO_ISA_NS
}  // namespace nervo
