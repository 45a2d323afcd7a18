// The per-ISA pieces of the convolution family: direct-convolution microkernels (float32,
// stride 1) for layers with few input channels per group (first layers, depthwise) where
// im2col + GEMM has too little depth to be efficient. One table per ISA level, each defined in
// its own translation unit (conv_ref.cpp, conv_avx2.cpp, conv_avx512.cpp); blocking, padding,
// weight packing and threading live once in conv.cpp.
//
// Sizes: C input channels (of one group), R x S filter, dilation dh/dw, Q output columns,
// kb output channels handled by one call (1..kMaxKB).
// The input is a zero-padded copy xp of one image: channel c, row h, column w at
// xp[c*xcs + h*xrs + w]. The caller sizes it so every read of a whole column tile is inside it:
// rows >= P + (R-1)*dh, row length >= round_up(Q, tile_cols) + (S-1)*dw.
#pragma once
#include <cstdint>

namespace nervo {
namespace conv {

constexpr int kMaxKB = 4;

struct DirectFwdArgs {
  const float* xp;        // padded input at the first input row of this output row
  int64_t xcs, xrs;       // channel and row strides of xp
  const float* w;         // packed weights: w[((c*R + r)*S + s)*kb + j] for channel j of the block
  int64_t C, R, S, dh, dw;
  int64_t kb;             // output channels in this call, 1..kMaxKB
  float* y;               // output row of channel 0; channel j at y + j*ycs, row p at + p*Q
  int64_t ycs;
  int64_t Q;              // output columns
  int64_t rows;           // output rows computed (input rows advance by xrs per output row)
  const float* bias;      // kb values, or nullptr
  bool relu;
};

struct DirectWgtArgs {
  const float* xp;        // padded input (first row, first channel of the group)
  int64_t xcs, xrs;
  const float* dy;        // output gradient of channel 0 of the block, row 0; channel j row p at
  int64_t dycs, dyrs;     //   dy + j*dycs + p*dyrs
  int64_t P, Q, C, R, S, dh, dw;
  int64_t kb;             // 1..kMaxKB
  float* acc;             // acc[j*C*R*S + (c*R + r)*S + s] += sum over p, q (accumulated)
};

struct Kernels {
  // y[j][p][q] = act(bias[j] + sum_{c,r,s} w * xp[c][p + r*dh][q + s*dw]) for q < Q, p < rows.
  // Overwrites exactly Q columns of each of those rows. nullptr where the level has none.
  void (*direct_fwd_f32)(const DirectFwdArgs& a);
  // acc += the weight gradient of one image for kb output channels.
  void (*direct_wgt_f32)(const DirectWgtArgs& a);
  int64_t tile_cols;  // columns computed per tile (reads are rounded up to it)
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call

// The table for nervo::current_isa().
const Kernels& kernels();

}  // namespace conv
}  // namespace nervo
