// A simple implementation of the GEMM contract (correct, cache-naive): a loop
// nest with the epilogue. The GEMM issue replaces it with the packed, blocked, per-ISA version.
#include "ops/gemm/gemm.h"

#include <omp.h>

#include <cmath>

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

}  // namespace gemm
}  // namespace nervo
