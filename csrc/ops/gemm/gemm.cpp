// A simple implementation of the GEMM contract (correct, cache-naive): a loop
// nest with the epilogue. The GEMM issue replaces it with the packed, blocked, per-ISA version.
#include "ops/gemm/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/cpu.h"
#include "ops/gemm/gemm_kernels.h"

namespace nervo {
namespace gemm {
namespace {

template <class T>
T apply_act(T v, Act act) {
  switch (act) {
    case Act::relu: return v < T(0) ? T(0) : v;
    case Act::gelu: return T(0.5) * v * (T(1) + std::erf(v * T(0.70710678118654752)));
    case Act::sigmoid: return T(1) / (T(1) + std::exp(-v));
    case Act::tanh: return std::tanh(v);
    default: return v;
  }
}

template <class T>
void gemm_simple(int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t rs_a, int64_t cs_a,
                 const T* B, int64_t rs_b, int64_t cs_b, T beta, T* C, int64_t ldc,
                 const Epilogue<T>& ep) {
#pragma omp parallel for schedule(static) if (M * N * K > 32768 && !omp_in_parallel())
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    for (int64_t j = 0; j < N; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    for (int64_t k = 0; k < K; ++k) {
      const T a = alpha * A[i * rs_a + k * cs_a];
      const T* b = B + k * rs_b;
      for (int64_t j = 0; j < N; ++j) c[j] += a * b[j * cs_b];
    }
    if (ep.bias || ep.act != Act::none)
      for (int64_t j = 0; j < N; ++j) c[j] = apply_act(c[j] + (ep.bias ? ep.bias[j] : T(0)), ep.act);
  }
}

}  // namespace

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rs_a, int64_t cs_a,
           const float* B, int64_t rs_b, int64_t cs_b, float beta, float* C, int64_t ldc,
           const Epilogue<float>& ep) {
  gemm_simple(M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep);
}

void dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rs_a,
           int64_t cs_a, const double* B, int64_t rs_b, int64_t cs_b, double beta, double* C,
           int64_t ldc, const Epilogue<double>& ep) {
  gemm_simple(M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep);
}

template <class T, class F>
void batched(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t bs_a,
             int64_t rs_a, int64_t cs_a, const T* B, int64_t bs_b, int64_t rs_b, int64_t cs_b, T beta,
             T* C, int64_t bs_c, int64_t ldc, const Epilogue<T>& ep, F gemm_one) {
  // One matrix per thread when each is too small to split well (inner calls then run serially).
  const bool outer = batch > 1 && M * N * K < (int64_t(1) << 21) && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (outer)
  for (int64_t b = 0; b < batch; ++b)
    gemm_one(M, N, K, alpha, A + b * bs_a, rs_a, cs_a, B + b * bs_b, rs_b, cs_b, beta, C + b * bs_c,
             ldc, ep);
}

void sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t bs_a, int64_t rs_a, int64_t cs_a, const float* B, int64_t bs_b,
                   int64_t rs_b, int64_t cs_b, float beta, float* C, int64_t bs_c, int64_t ldc,
                   const Epilogue<float>& ep) {
  batched(batch, M, N, K, alpha, A, bs_a, rs_a, cs_a, B, bs_b, rs_b, cs_b, beta, C, bs_c, ldc, ep,
          sgemm);
}

void dgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                   int64_t bs_a, int64_t rs_a, int64_t cs_a, const double* B, int64_t bs_b,
                   int64_t rs_b, int64_t cs_b, double beta, double* C, int64_t bs_c, int64_t ldc,
                   const Epilogue<double>& ep) {
  batched(batch, M, N, K, alpha, A, bs_a, rs_a, cs_a, B, bs_b, rs_b, cs_b, beta, C, bs_c, ldc, ep,
          dgemm);
}

const Kernels& kernels() {
  switch (current_isa()) {
    case Isa::avx512: return kernels_avx512;
    case Isa::avx2: return kernels_avx2;
    default: return kernels_ref;
  }
}

double peak_gflops(int threads, double seconds) {
  const Kernels& k = kernels();
  double flops = 0.0, elapsed = 0.0;
  // Each thread repeats a fixed chunk until `seconds` have passed; the rate is the total work over
  // the slowest thread's time (a warm-up chunk first lets the clock reach its sustained speed).
#pragma omp parallel num_threads(threads) reduction(+ : flops) reduction(max : elapsed)
  {
    constexpr int64_t kChunk = 1 << 16;
    k.fma_loop_f32(kChunk);
    const double t0 = omp_get_wtime();
    double t = t0;
    do {
      flops += k.fma_loop_f32(kChunk);
      t = omp_get_wtime();
    } while (t - t0 < seconds);
    elapsed = t - t0;
  }
  return flops / std::max(elapsed, 1e-9) / 1e9;
}

}  // namespace gemm
}  // namespace nervo
