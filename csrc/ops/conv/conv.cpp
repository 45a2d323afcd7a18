// Convolution: im2col + GEMM (nervo::gemm) with threading over images, col2im for the data
// gradient, and a thread-count-independent chunked reduction for the weight gradient.
//
// Sizes as in conv.h. CRS = Cg * R * S is the GEMM depth; PQ = P * Q.
//   forward, per image n and group g:    y[n,g] (Kg x PQ)  = w[g] (Kg x CRS) @ col (CRS x PQ)
//   data grad:                           col (CRS x PQ)    = w[g]^T @ dy[n,g], then col2im into dx
//   weight grad:                         dw[g] (Kg x CRS) += dy[n,g] @ col^T
// A 1x1 filter with stride 1 and no padding needs no im2col: col is the input image itself.
// Threads: when the batch has at least as many images as threads, each thread takes whole images
// (GEMM then runs single-threaded inside the parallel region, see gemm.h) with its own column
// buffer; otherwise images run one after another and the GEMM uses the threads.
#include "ops/conv/conv.h"

#include <omp.h>
#include <type_traits>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/conv/conv_kernels.h"

namespace nervo {
namespace conv {
namespace {

inline void gemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rs_a,
                 int64_t cs_a, const float* B, int64_t rs_b, int64_t cs_b, float beta, float* C,
                 int64_t ldc) {
  gemm::sgemm(M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc);
}
inline void gemm(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rs_a,
                 int64_t cs_a, const double* B, int64_t rs_b, int64_t cs_b, double beta, double* C,
                 int64_t ldc) {
  gemm::dgemm(M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc);
}

inline int64_t ceil_div(int64_t a, int64_t b) {  // b > 0, any sign of a
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// [lo, hi) of output positions o whose input coordinate o*stride + off lies in [0, extent).
inline void valid_range(int64_t off, int64_t stride, int64_t extent, int64_t out, int64_t& lo,
                        int64_t& hi) {
  lo = std::max<int64_t>(0, ceil_div(-off, stride));
  hi = std::min<int64_t>(out, ceil_div(extent - off, stride));
  if (hi < lo) hi = lo;
}

bool is_pointwise(const Shape& s) {
  return s.R == 1 && s.S == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0 &&
         s.P == s.H && s.Q == s.W;
}

// col (Cg*R*S, (p1-p0)*Q): output rows [p0, p1) of the column matrix of one image's group slice
// xg (Cg, H, W); im2col(s, xg, col) is the whole matrix (rows [0, P)).
template <class T>
void im2col_rows(const Shape& s, const T* xg, T* col, int64_t p0, int64_t p1) {
  const int64_t Cg = s.C / s.G, NQ = (p1 - p0) * s.Q;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        T* dst = col + ((c * s.R + r) * s.S + t) * NQ - p0 * s.Q;  // indexed by absolute p
        const int64_t hoff = r * s.dh - s.ph, woff = t * s.dw - s.pw;
        int64_t plo, phi, qlo, qhi;
        valid_range(hoff, s.sh, s.H, s.P, plo, phi);
        valid_range(woff, s.sw, s.W, s.Q, qlo, qhi);
        plo = std::min(std::max(plo, p0), p1);
        phi = std::max(std::min(phi, p1), plo);
        std::fill(dst + p0 * s.Q, dst + plo * s.Q, T(0));
        for (int64_t p = plo; p < phi; ++p) {
          T* d = dst + p * s.Q;
          const T* src = xg + (c * s.H + p * s.sh + hoff) * s.W + woff;
          std::fill(d, d + qlo, T(0));
          if (s.sw == 1) {
            std::memcpy(d + qlo, src + qlo, sizeof(T) * (qhi - qlo));
          } else {
            for (int64_t q = qlo; q < qhi; ++q) d[q] = src[q * s.sw];
          }
          std::fill(d + qhi, d + s.Q, T(0));
        }
        std::fill(dst + phi * s.Q, dst + p1 * s.Q, T(0));
      }
}

template <class T>
void im2col(const Shape& s, const T* xg, T* col) {
  im2col_rows(s, xg, col, 0, s.P);
}

// dxg (Cg, H, W) += col2im(col); dxg must be zeroed by the caller.
template <class T>
void col2im(const Shape& s, const T* col, T* dxg) {
  const int64_t Cg = s.C / s.G, PQ = s.P * s.Q;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        const T* src = col + ((c * s.R + r) * s.S + t) * PQ;
        const int64_t hoff = r * s.dh - s.ph, woff = t * s.dw - s.pw;
        int64_t plo, phi, qlo, qhi;
        valid_range(hoff, s.sh, s.H, s.P, plo, phi);
        valid_range(woff, s.sw, s.W, s.Q, qlo, qhi);
        for (int64_t p = plo; p < phi; ++p) {
          const T* sp = src + p * s.Q;
          T* d = dxg + (c * s.H + p * s.sh + hoff) * s.W + woff;
          if (s.sw == 1) {
            for (int64_t q = qlo; q < qhi; ++q) d[q] += sp[q];
          } else {
            for (int64_t q = qlo; q < qhi; ++q) d[q * s.sw] += sp[q];
          }
        }
      }
}

// Bytes of column matrix per forward band (see forward_image): half of a 1 MiB L2.
constexpr int64_t kColBandBytes = 512 * 1024;

// True when images should be spread over threads (each running single-threaded GEMMs).
bool per_image_threads(const Shape& s) {
  return !omp_in_parallel() && s.N > 1 && s.N >= omp_get_max_threads();
}

template <class T>
void epilogue(const Shape& s, T* yn, const T* bias, Act act) {
  const int64_t PQ = s.P * s.Q;
  for (int64_t k = 0; k < s.K; ++k) {
    T* row = yn + k * PQ;
    const T b = bias ? bias[k] : T(0);
    if (act == Act::relu) {
      for (int64_t i = 0; i < PQ; ++i) {
        const T v = row[i] + b;
        row[i] = v < T(0) ? T(0) : v;  // NaN passes through, like torch.relu
      }
    } else if (bias) {
      for (int64_t i = 0; i < PQ; ++i) row[i] += b;
    }
  }
}

template <class T>
void forward_image(const Shape& s, const T* x, const T* w, const T* bias, T* y, Act act,
                   int64_t n, T* col) {
  const int64_t Cg = s.C / s.G, Kg = s.K / s.G, CRS = Cg * s.R * s.S, PQ = s.P * s.Q;
  const bool pw = is_pointwise(s);
  T* yn = y + n * s.K * PQ;
  for (int64_t g = 0; g < s.G; ++g) {
    const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
    T* yg = yn + g * Kg * PQ;
    if (CRS == 0) {
      std::fill(yg, yg + Kg * PQ, T(0));
      continue;
    }
    if (pw) {
      gemm(Kg, PQ, CRS, T(1), w + g * Kg * CRS, CRS, 1, xg, PQ, 1, T(0), yg, PQ);
      continue;
    }
    // The column matrix a band of output rows at a time, each band small enough to stay in L2
    // (kColBandBytes) between being written by im2col and read by the GEMM's packing: a whole
    // wide layer's matrix (576 x 3136 floats = 7 MiB for 64 channels at 56 x 56) would make
    // both passes go to DRAM.
    const int64_t rows = std::max<int64_t>(1, kColBandBytes / int64_t(sizeof(T) * CRS * std::max<int64_t>(s.Q, 1)));
    for (int64_t p0 = 0; p0 < s.P; p0 += rows) {
      const int64_t p1 = std::min(s.P, p0 + rows), nq = (p1 - p0) * s.Q;
      im2col_rows(s, xg, col, p0, p1);
      gemm(Kg, nq, CRS, T(1), w + g * Kg * CRS, CRS, 1, col, nq, 1, T(0), yg + p0 * s.Q, PQ);
    }
  }
  if (bias || act != Act::none) epilogue(s, yn, bias, act);
}

template <class T>
void backward_data_image(const Shape& s, const T* dy, const T* w, T* dx, int64_t n, T* col) {
  const int64_t Cg = s.C / s.G, Kg = s.K / s.G, CRS = Cg * s.R * s.S, PQ = s.P * s.Q;
  const bool pw = is_pointwise(s);
  for (int64_t g = 0; g < s.G; ++g) {
    T* dxg = dx + (n * s.C + g * Cg) * s.H * s.W;
    const T* dyg = dy + (n * s.K + g * Kg) * PQ;
    if (pw) {
      gemm(CRS, PQ, Kg, T(1), w + g * Kg * CRS, 1, CRS, dyg, PQ, 1, T(0), dxg, PQ);
      continue;
    }
    std::fill(dxg, dxg + Cg * s.H * s.W, T(0));
    if (Kg == 0 || PQ == 0) continue;
    gemm(CRS, PQ, Kg, T(1), w + g * Kg * CRS, 1, CRS, dyg, PQ, 1, T(0), col, PQ);
    col2im(s, col, dxg);
  }
}

// dw (K, CRS) += the contribution of image n.
template <class T>
void backward_weight_image(const Shape& s, const T* dy, const T* x, T* dw, int64_t n, T* col) {
  const int64_t Cg = s.C / s.G, Kg = s.K / s.G, CRS = Cg * s.R * s.S, PQ = s.P * s.Q;
  const bool pw = is_pointwise(s);
  for (int64_t g = 0; g < s.G; ++g) {
    const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
    const T* dyg = dy + (n * s.K + g * Kg) * PQ;
    const T* b = xg;
    if (!pw) {
      im2col(s, xg, col);
      b = col;
    }
    gemm(Kg, CRS, PQ, T(1), dyg, PQ, 1, b, 1, PQ, T(1), dw + g * Kg * CRS, CRS);
  }
}

int64_t col_size(const Shape& s) { return (s.C / s.G) * s.R * s.S * s.P * s.Q; }

// The weight gradient's batch reduction uses this many image chunks, whatever the thread count:
// enough to keep 2-4 threads busy, few enough that the per-chunk partial sums stay small.
constexpr int64_t kWeightChunks = 8;


// ---------------------------------------------------------------------------------------------
// Direct convolution (float32, stride 1, few channels per group; microkernels in conv_*.cpp).
//
// A "direct conv" maps an input (N, G*Ci, Hi, Wi) to an output (N, G*Co, Ho, Wo) with packed
// weights, top/left padding and an R x S filter at dilation dh/dw. The forward pass is one
// (Ci = C/G, Co = K/G); the data gradient of a stride-1 conv is another (input dy, Ci = K/G,
// Co = C/G, the filter flipped and transposed, padding dh*(R-1) - ph and dw*(S-1) - pw).

// The forward path takes layers whose GEMM depth C/G*R*S is too small for GEMM to be efficient.
constexpr int64_t kDirectMaxChannels = 4;    // C/G (or K/G for the data gradient) at most this
constexpr int64_t kDirectMaxTaps = 128;      // C/G*R*S for the weight gradient

struct Padded {
  int64_t Ci, Hp, Wp;       // buffer shape per image: (G*Ci, Hp, Wp)
  int64_t top, left, wmax;  // columns >= wmax stay zero (never meet a valid output)
  int64_t size() const { return Ci * Hp * Wp; }
};

Padded make_padded(int64_t Ci, int64_t Ho, int64_t Wo, int64_t R, int64_t S, int64_t dh,
                   int64_t dw, int64_t top, int64_t left, int64_t tile) {
  const int64_t cols = (Wo + tile - 1) / tile * tile;
  return {Ci, Ho + (R - 1) * dh, cols + (S - 1) * dw, top, left, Wo + (S - 1) * dw};
}

// buf (Ci, Hp, Wp) = zero-padded image xn (Ci, Hi, Wi).
void pad_image(const Padded& pd, const float* xn, int64_t Hi, int64_t Wi, float* buf) {
  for (int64_t c = 0; c < pd.Ci; ++c)
    for (int64_t h = 0; h < pd.Hp; ++h) {
      float* row = buf + (c * pd.Hp + h) * pd.Wp;
      const int64_t ih = h - pd.top;
      if (ih < 0 || ih >= Hi) {
        std::fill(row, row + pd.Wp, 0.0f);
        continue;
      }
      const float* src = xn + (c * Hi + ih) * Wi;
      const int64_t lo = std::min(std::max<int64_t>(pd.left, 0), pd.Wp);
      const int64_t hi = std::max(lo, std::min({pd.Wp, pd.wmax, Wi + pd.left}));
      std::fill(row, row + lo, 0.0f);
      for (int64_t w = lo; w < hi; ++w) row[w] = src[w - pd.left];
      std::fill(row + hi, row + pd.Wp, 0.0f);
    }
}

struct DirectConv {
  int64_t N, G, Ci, Hi, Wi, Co, Ho, Wo, R, S, dh, dw;
  const float* in;
  const float* wpack;  // per group g and block k0: at (g*Co + k0)*Ci*R*S, [crs][kb]
  const float* bias;   // G*Co or nullptr
  bool relu;
  float* out;
};

// Pack w (G*Co, Ci, R, S) into blocks of kMaxKB output channels, tap-major inside a block.
// With flip, w is read as the transposed, flipped filter of a data gradient:
// source layout (G*Ci_src=K, Co, R, S) where the block's "output channel" is the source's input
// channel: wpack(g, c, k, r', s') = w[g*Kg + k][c][R-1-r'][S-1-s'].
std::vector<float> pack_weights(const float* w, int64_t G, int64_t Co, int64_t Ci, int64_t R,
                                int64_t S, bool flip) {
  const int64_t taps = Ci * R * S;
  std::vector<float> out(G * Co * taps);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t k0 = 0; k0 < Co; k0 += kMaxKB) {
      const int64_t kb = std::min<int64_t>(kMaxKB, Co - k0);
      float* dst = out.data() + (g * Co + k0) * taps;
      for (int64_t c = 0; c < Ci; ++c)
        for (int64_t r = 0; r < R; ++r)
          for (int64_t s = 0; s < S; ++s)
            for (int64_t j = 0; j < kb; ++j) {
              const int64_t t = (c * R + r) * S + s;
              const int64_t k = k0 + j;
              // forward: w[(g*Co + k)][c][r][s]; flipped: w[(g*Ci + c)][k][R-1-r][S-1-s]
              dst[t * kb + j] = flip ? w[(((g * Ci + c) * Co + k) * R + (R - 1 - r)) * S + (S - 1 - s)]
                                     : w[(((g * Co + k) * Ci + c) * R + r) * S + s];
            }
    }
  return out;
}

// Tasks [task0, task1) of one padded image; a task is one (group, channel block, row chunk).
constexpr int64_t kRowsPerTask = 8;

void direct_rows(const DirectConv& d, const Padded& pd, const float* buf, int64_t n,
                 int64_t task0, int64_t task1, const Kernels& kern) {
  const int64_t nblk = (d.Co + kMaxKB - 1) / kMaxKB;
  const int64_t nchunk = (d.Ho + kRowsPerTask - 1) / kRowsPerTask;
  const int64_t taps = d.Ci * d.R * d.S;
  for (int64_t t = task0; t < task1; ++t) {
    const int64_t rc = t % nchunk, gb = t / nchunk, b = gb % nblk, g = gb / nblk;
    const int64_t k0 = b * kMaxKB, p = rc * kRowsPerTask;
    DirectFwdArgs a;
    a.xp = buf + (g * d.Ci * pd.Hp + p) * pd.Wp;
    a.xcs = pd.Hp * pd.Wp;
    a.xrs = pd.Wp;
    a.w = d.wpack + (g * d.Co + k0) * taps;
    a.C = d.Ci;
    a.R = d.R;
    a.S = d.S;
    a.dh = d.dh;
    a.dw = d.dw;
    a.kb = std::min<int64_t>(kMaxKB, d.Co - k0);
    a.y = d.out + ((n * d.G * d.Co + g * d.Co + k0) * d.Ho + p) * d.Wo;
    a.ycs = d.Ho * d.Wo;
    a.Q = d.Wo;
    a.rows = std::min(kRowsPerTask, d.Ho - p);
    a.bias = d.bias ? d.bias + g * d.Co + k0 : nullptr;
    a.relu = d.relu;
    kern.direct_fwd_f32(a);
  }
}

void run_direct(const DirectConv& d, int64_t top, int64_t left, const Kernels& kern) {
  const Padded pd = make_padded(d.G * d.Ci, d.Ho, d.Wo, d.R, d.S, d.dh, d.dw, top, left,
                                kern.tile_cols);
  const int64_t tasks =
      d.G * ((d.Co + kMaxKB - 1) / kMaxKB) * ((d.Ho + kRowsPerTask - 1) / kRowsPerTask);
  const int64_t img = d.G * d.Ci * d.Hi * d.Wi;
  if (!omp_in_parallel() && d.N >= omp_get_max_threads() && d.N > 1) {
#pragma omp parallel
    {
      std::vector<float> buf(pd.size());
#pragma omp for schedule(dynamic, 1)
      for (int64_t n = 0; n < d.N; ++n) {
        pad_image(pd, d.in + n * img, d.Hi, d.Wi, buf.data());
        direct_rows(d, pd, buf.data(), n, 0, tasks, kern);
      }
    }
  } else {
    std::vector<float> buf(pd.size());
    for (int64_t n = 0; n < d.N; ++n) {
      pad_image(pd, d.in + n * img, d.Hi, d.Wi, buf.data());
#pragma omp parallel for schedule(static) if (tasks > 1 && !omp_in_parallel())
      for (int64_t t = 0; t < tasks; ++t) direct_rows(d, pd, buf.data(), n, t, t + 1, kern);
    }
  }
}

bool direct_forward_ok(const Shape& s, const Kernels& kern) {
  return kern.direct_fwd_f32 && s.sh == 1 && s.sw == 1 && s.C / s.G <= kDirectMaxChannels;
}

bool direct_data_ok(const Shape& s, const Kernels& kern) {
  return kern.direct_fwd_f32 && s.sh == 1 && s.sw == 1 && s.C / s.G <= kDirectMaxChannels &&
         s.dh * (s.R - 1) >= s.ph && s.dw * (s.S - 1) >= s.pw;
}

bool direct_weight_ok(const Shape& s, const Kernels& kern) {
  return kern.direct_wgt_f32 && s.sh == 1 && s.sw == 1 && s.C / s.G <= kDirectMaxChannels &&
         (s.C / s.G) * s.R * s.S <= kDirectMaxTaps;
}

void direct_forward(const Shape& s, const float* x, const float* w, const float* bias, float* y,
                    Act act, const Kernels& kern) {
  const int64_t Cg = s.C / s.G, Kg = s.K / s.G;
  const std::vector<float> wp = pack_weights(w, s.G, Kg, Cg, s.R, s.S, false);
  const DirectConv d{s.N, s.G, Cg, s.H, s.W, Kg, s.P, s.Q, s.R, s.S, s.dh, s.dw,
                     x, wp.data(), bias, act == Act::relu, y};
  run_direct(d, s.ph, s.pw, kern);
}

void direct_data(const Shape& s, const float* dy, const float* w, float* dx, const Kernels& kern) {
  const int64_t Cg = s.C / s.G, Kg = s.K / s.G;
  const std::vector<float> wp = pack_weights(w, s.G, Cg, Kg, s.R, s.S, true);
  const DirectConv d{s.N, s.G, Kg, s.P, s.Q, Cg, s.H, s.W, s.R, s.S, s.dh, s.dw,
                     dy, wp.data(), nullptr, false, dx};
  run_direct(d, s.dh * (s.R - 1) - s.ph, s.dw * (s.S - 1) - s.pw, kern);
}

// dw (K, Cg*R*S) += the gradient of images [n0, n1), one padded image at a time.
void direct_weight_images(const Shape& s, const float* dy, const float* x, float* acc, int64_t n0,
                          int64_t n1, const Padded& pd, float* buf, const Kernels& kern) {
  const int64_t Cg = s.C / s.G, Kg = s.K / s.G, PQ = s.P * s.Q;
  for (int64_t n = n0; n < n1; ++n) {
    pad_image(pd, x + n * s.C * s.H * s.W, s.H, s.W, buf);
    for (int64_t g = 0; g < s.G; ++g)
      for (int64_t k0 = 0; k0 < Kg; k0 += kMaxKB) {
        DirectWgtArgs a;
        a.xp = buf + g * Cg * pd.Hp * pd.Wp;
        a.xcs = pd.Hp * pd.Wp;
        a.xrs = pd.Wp;
        a.dy = dy + (n * s.K + g * Kg + k0) * PQ;
        a.dycs = PQ;
        a.dyrs = s.Q;
        a.P = s.P;
        a.Q = s.Q;
        a.C = Cg;
        a.R = s.R;
        a.S = s.S;
        a.dh = s.dh;
        a.dw = s.dw;
        a.kb = std::min<int64_t>(kMaxKB, Kg - k0);
        a.acc = acc + (g * Kg + k0) * Cg * s.R * s.S;
        kern.direct_wgt_f32(a);
      }
  }
}

}  // namespace

template <class T>
void conv2d_forward(const Shape& s, const T* x, const T* w, const T* bias, T* y, Act act) {
  if (s.N == 0 || s.K == 0 || s.P * s.Q == 0) return;
  if constexpr (std::is_same<T, float>::value) {
    const Kernels& kern = kernels();
    if (direct_forward_ok(s, kern)) return direct_forward(s, x, w, bias, y, act, kern);
  }
  const int64_t cs = is_pointwise(s) ? 0 : col_size(s);
  if (per_image_threads(s)) {
#pragma omp parallel
    {
      std::vector<T> col(cs);
#pragma omp for schedule(dynamic, 1)
      for (int64_t n = 0; n < s.N; ++n) forward_image(s, x, w, bias, y, act, n, col.data());
    }
  } else {
    std::vector<T> col(cs);
    for (int64_t n = 0; n < s.N; ++n) forward_image(s, x, w, bias, y, act, n, col.data());
  }
}

template <class T>
void conv2d_backward_data(const Shape& s, const T* dy, const T* w, T* dx) {
  if (s.N == 0 || s.C == 0 || s.H * s.W == 0) return;
  if constexpr (std::is_same<T, float>::value) {
    const Kernels& kern = kernels();
    if (s.K > 0 && s.P * s.Q > 0 && direct_data_ok(s, kern)) return direct_data(s, dy, w, dx, kern);
  }
  const int64_t cs = is_pointwise(s) ? 0 : col_size(s);
  if (per_image_threads(s)) {
#pragma omp parallel
    {
      std::vector<T> col(cs);
#pragma omp for schedule(dynamic, 1)
      for (int64_t n = 0; n < s.N; ++n) backward_data_image(s, dy, w, dx, n, col.data());
    }
  } else {
    std::vector<T> col(cs);
    for (int64_t n = 0; n < s.N; ++n) backward_data_image(s, dy, w, dx, n, col.data());
  }
}

template <class T>
void conv2d_backward_weight(const Shape& s, const T* dy, const T* x, T* dw, T* db) {
  const int64_t PQ = s.P * s.Q;
  if (db) {
#pragma omp parallel for schedule(static) if (s.N * s.K * PQ > 65536)
    for (int64_t k = 0; k < s.K; ++k) {
      T acc = 0;
      for (int64_t n = 0; n < s.N; ++n) {
        const T* row = dy + (n * s.K + k) * PQ;
        T part = 0;
        for (int64_t i = 0; i < PQ; ++i) part += row[i];
        acc += part;
      }
      db[k] = acc;
    }
  }
  if (!dw) return;
  const int64_t wsize = s.K * (s.C / s.G) * s.R * s.S;
  std::fill(dw, dw + wsize, T(0));
  if (s.N == 0 || PQ == 0 || wsize == 0) return;
  // Images [n0, n1) accumulated into acc with a scratch buffer: a padded image for the direct
  // kernel, a column matrix for im2col + GEMM.
  const Kernels* kern = nullptr;
  Padded pd{};
  if constexpr (std::is_same<T, float>::value) {
    if (direct_weight_ok(s, kernels())) {
      kern = &kernels();
      pd = make_padded(s.C, s.P, s.Q, s.R, s.S, s.dh, s.dw, s.ph, s.pw, kern->tile_cols);
    }
  }
  const int64_t scratch = kern ? pd.size() : is_pointwise(s) ? 0 : col_size(s);
  auto accumulate = [&](T* acc, int64_t n0, int64_t n1, T* buf) {
    if constexpr (std::is_same<T, float>::value) {
      if (kern) return direct_weight_images(s, dy, x, acc, n0, n1, pd, buf, *kern);
    }
    for (int64_t n = n0; n < n1; ++n) backward_weight_image(s, dy, x, acc, n, buf);
  };
  const int64_t nchunks = std::min(s.N, kWeightChunks);
  if (nchunks > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
    // Chunk c sums images [c*N/nchunks, (c+1)*N/nchunks) into partial[c]; chunks are added in
    // order afterwards, so the result is the same for any thread count.
    std::vector<T> partial((nchunks - 1) * wsize, T(0));
#pragma omp parallel
    {
      std::vector<T> buf(scratch);
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < nchunks; ++c)
        accumulate(c == 0 ? dw : partial.data() + (c - 1) * wsize, c * s.N / nchunks,
                   (c + 1) * s.N / nchunks, buf.data());
#pragma omp for schedule(static)
      for (int64_t i = 0; i < wsize; ++i)
        for (int64_t c = 1; c < nchunks; ++c) dw[i] += partial[(c - 1) * wsize + i];
    }
  } else {
    // Same chunked order as above, serially (GEMM may use the threads).
    std::vector<T> buf(scratch), partial(nchunks > 1 ? wsize : 0);
    for (int64_t c = 0; c < nchunks; ++c) {
      T* acc = c == 0 ? dw : partial.data();
      if (c > 0) std::fill(partial.begin(), partial.end(), T(0));
      accumulate(acc, c * s.N / nchunks, (c + 1) * s.N / nchunks, buf.data());
      if (c > 0)
        for (int64_t i = 0; i < wsize; ++i) dw[i] += partial[i];
    }
  }
}

template void conv2d_forward<float>(const Shape&, const float*, const float*, const float*, float*, Act);
template void conv2d_forward<double>(const Shape&, const double*, const double*, const double*, double*, Act);
template void conv2d_backward_data<float>(const Shape&, const float*, const float*, float*);
template void conv2d_backward_data<double>(const Shape&, const double*, const double*, double*);
template void conv2d_backward_weight<float>(const Shape&, const float*, const float*, float*, float*);
template void conv2d_backward_weight<double>(const Shape&, const double*, const double*, double*, double*);

}  // namespace conv
}  // namespace nervo
