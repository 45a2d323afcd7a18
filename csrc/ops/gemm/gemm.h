// GEMM: C = alpha * op(A) @ op(B) + beta * C, then + bias and an activation (the epilogue).
//
// Sizes: M, N, K. op(A) is M x K, op(B) is K x N, C is M x N.
// Strides in elements, BLIS style: element (i, k) of op(A) is A[i * rs_a + k * cs_a], so a
// transpose or a Fortran-order array is just swapped strides (no copy). C is row-major with
// leading dimension ldc (C[i * ldc + j]).
// beta == 0 overwrites C (whatever it held, even NaN, is ignored); otherwise C is accumulated.
// Threads: the calls use OpenMP internally; called from inside a parallel region (e.g. conv's
// per-image loop) they run on the calling thread only.
//
// This header is the internal API the conv, rnn and attention families build on.
#pragma once
#include <cstdint>

namespace nervo {
namespace gemm {

// Values are part of the binding ABI (python/nervo/ops/gemm.py mirrors them).
enum class Act : int { none = 0, relu = 1, gelu = 2, sigmoid = 3, tanh = 4 };

template <class T>
struct Epilogue {
  const T* bias = nullptr;  // length N, added to every row; nullptr for none
  Act act = Act::none;
};

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rs_a,
           int64_t cs_a, const float* B, int64_t rs_b, int64_t cs_b, float beta, float* C,
           int64_t ldc, const Epilogue<float>& ep = {});

void dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rs_a,
           int64_t cs_a, const double* B, int64_t rs_b, int64_t cs_b, double beta, double* C,
           int64_t ldc, const Epilogue<double>& ep = {});

// A batch of independent GEMMs: matrix b of each operand starts at X + b * bs_x (a batch stride of
// 0 broadcasts one matrix over the batch). C matrices must not overlap. Small problems run one
// matrix per thread; large ones run one after another, each with all threads.
void sgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t bs_a, int64_t rs_a, int64_t cs_a, const float* B, int64_t bs_b,
                   int64_t rs_b, int64_t cs_b, float beta, float* C, int64_t bs_c, int64_t ldc,
                   const Epilogue<float>& ep = {});

void dgemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                   int64_t bs_a, int64_t rs_a, int64_t cs_a, const double* B, int64_t bs_b,
                   int64_t rs_b, int64_t cs_b, double beta, double* C, int64_t bs_c, int64_t ldc,
                   const Epilogue<double>& ep = {});

// Measured FP32 FMA throughput in GFLOP/s on `threads` threads at the current ISA level
// (register-resident FMAs, no memory traffic), each thread running for about `seconds` of its own
// CPU time; the sum of the threads' rates.
double peak_gflops(int threads, double seconds);

}  // namespace gemm
}  // namespace nervo
