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

#include <algorithm>
#include <cstring>
#include <vector>

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

// col (Cg*R*S, P*Q) from one image's group slice xg (Cg, H, W).
template <class T>
void im2col(const Shape& s, const T* xg, T* col) {
  const int64_t Cg = s.C / s.G, PQ = s.P * s.Q;
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t t = 0; t < s.S; ++t) {
        T* dst = col + ((c * s.R + r) * s.S + t) * PQ;
        const int64_t hoff = r * s.dh - s.ph, woff = t * s.dw - s.pw;
        int64_t plo, phi, qlo, qhi;
        valid_range(hoff, s.sh, s.H, s.P, plo, phi);
        valid_range(woff, s.sw, s.W, s.Q, qlo, qhi);
        std::fill(dst, dst + plo * s.Q, T(0));
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
        std::fill(dst + phi * s.Q, dst + PQ, T(0));
      }
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
    const T* b = xg;
    if (!pw) {
      im2col(s, xg, col);
      b = col;
    }
    gemm(Kg, PQ, CRS, T(1), w + g * Kg * CRS, CRS, 1, b, PQ, 1, T(0), yg, PQ);
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

}  // namespace

template <class T>
void conv2d_forward(const Shape& s, const T* x, const T* w, const T* bias, T* y, Act act) {
  if (s.N == 0 || s.K == 0 || s.P * s.Q == 0) return;
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
  const int64_t cs = is_pointwise(s) ? 0 : col_size(s);
  const int64_t nchunks = std::min(s.N, kWeightChunks);
  if (nchunks > 1 && !omp_in_parallel() && omp_get_max_threads() > 1) {
    // Chunk c sums images [c*N/nchunks, (c+1)*N/nchunks) into partial[c]; chunks are added in
    // order afterwards, so the result is the same for any thread count.
    std::vector<T> partial((nchunks - 1) * wsize, T(0));
#pragma omp parallel
    {
      std::vector<T> col(cs);
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < nchunks; ++c) {
        T* acc = c == 0 ? dw : partial.data() + (c - 1) * wsize;
        for (int64_t n = c * s.N / nchunks; n < (c + 1) * s.N / nchunks; ++n)
          backward_weight_image(s, dy, x, acc, n, col.data());
      }
#pragma omp for schedule(static)
      for (int64_t i = 0; i < wsize; ++i)
        for (int64_t c = 1; c < nchunks; ++c) dw[i] += partial[(c - 1) * wsize + i];
    }
  } else {
    // Same chunked order as above, serially (GEMM may use the threads).
    std::vector<T> col(cs), partial(nchunks > 1 ? wsize : 0);
    for (int64_t c = 0; c < nchunks; ++c) {
      T* acc = c == 0 ? dw : partial.data();
      if (c > 0) std::fill(partial.begin(), partial.end(), T(0));
      for (int64_t n = c * s.N / nchunks; n < (c + 1) * s.N / nchunks; ++n)
        backward_weight_image(s, dy, x, acc, n, col.data());
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
