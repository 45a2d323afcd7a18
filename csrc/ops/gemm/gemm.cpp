// GEMM, the BLIS way: blocking, packing, threading and edge tiles, written once for every ISA level
// and both dtypes; the per-ISA microkernels and block sizes come from gemm_kernels.h's tables.
//
// Sizes: M, N, K of the contract (gemm.h); MR x NR the microkernel tile; MC, KC, NC the cache
// blocks. Loop nest (BLIS's five loops around the microkernel):
//
//   for jc in N step NC                       B panel (KC x NC) packed once, shared by all threads (L3)
//     for pc in K step KC                     C += A(:, pc) B(pc, :); the first block applies beta,
//                                              the last the bias and activation (fused epilogue)
//       for ic in (this thread's rows) step MC   A block (MC x KC) packed per thread (L2)
//         for jr in (this thread's columns) step NR   B sliver (KC x NR) stays in L1 across ir
//           for ir in MC step MR                  microkernel: MR x NR tile of C in registers
//
// Threads: one OpenMP team per call. Threads split the M x N tiles of C on a tm x tn grid (rows
// first: then no A block is packed twice); all of them pack the shared B panel together. Each
// element of C is computed by one thread in the same order whatever the thread count, so results
// are bitwise identical for any number of threads. Called inside a parallel region (conv's
// per-image loop) the call runs on the calling thread alone (omp_in_parallel).
//
// Edges: panels are zero-padded to whole MR/NR slivers when packed; a partial C tile is computed
// into an MR x NR scratch tile and copied out, so the microkernels only know full tiles.
#include "ops/gemm/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>

#include "core/cpu.h"
#include "ops/gemm/gemm_kernels.h"

namespace nervo {
namespace gemm {
namespace {

// Below this many flops per thread (about 20 us of one core's work), extra threads cost more
// (team wake-up, one barrier per B panel, a few us each) than they save.
constexpr double kMinFlopsPerThread = 2.0 * 100 * 100 * 100;
// Size limits of the unpacked paths (see gemm_blocked).
constexpr double kDirectAFlops = 2.0 * 256 * 256 * 256;
constexpr double kDirectBFlops = 2.0 * 64 * 64 * 64;
// A batch of matrices smaller than this runs one matrix per thread (a 256^3 product is the size
// at which splitting one matrix over threads stops losing to the barriers).
constexpr double kBatchOuterFlops = 2.0 * 256 * 256 * 256;

// Grow-only, 64-byte aligned scratch memory, one per thread (OpenMP threads persist, so the
// buffers are reused across calls instead of being faulted in again).
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  void* get(size_t bytes) {
    if (bytes > n_) {
      std::free(p_);
      n_ = (bytes + 4095) & ~size_t(4095);
      p_ = std::aligned_alloc(64, n_);
      if (!p_) {
        n_ = 0;
        throw std::bad_alloc();
      }
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// The calling thread's workspace: the shared B panel, then per thread its A block, a scratch C tile
// and a bias tile. Allocated before the parallel region, so no exception can start inside it.
thread_local Scratch tl_workspace;

// Splits `threads` into a tm x tn grid over mt row tiles and nt column tiles: the grid with the
// fewest tiles on the busiest thread, rows first on ties (no A block is then packed twice).
void thread_grid(int threads, int64_t mt, int64_t ntiles, int& tm, int& tn) {
  tm = threads;
  tn = 1;
  int64_t best = -1;
  for (int d = threads; d >= 1; --d) {
    if (threads % d) continue;
    const int64_t e = threads / d;
    const int64_t load = ((mt + d - 1) / d) * ((ntiles + e - 1) / e);
    if (best < 0 || load < best) {
      best = load;
      tm = d;
      tn = static_cast<int>(e);
    }
  }
}

// Products with at most this many rows of C take the skinny path. Measured crossover (AVX2, one
// thread, M = 2..32 against the packed path on 256x784, 128x256 (x @ W.T), 784x256 (x @ W) and
// 1024x1024 both ways): skinny wins every shape up to 8 rows (1.3-3.8x); at 12 and 16 rows it
// wins or ties 4 of the 5 (up to 1.5x) and loses 256x784 x @ W.T by 2-13%; from 24 rows the
// packed path wins some shapes.
constexpr int64_t kSkinnyMaxRows = 16;

// Few rows of C: packing B would cost as much as the product itself (a batch-1 or batch-4
// Linear layer reads each weight once), so these run the unpacked skinny kernels
// (gemm_kernels.h), the columns split across threads. Returns false when the strides fit
// neither form.
template <class T>
bool gemm_skinny(const Config<T>& cfg, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                 int64_t rs_a, int64_t cs_a, const T* B, int64_t rs_b, int64_t cs_b, T beta, T* C,
                 int64_t ldc, const Epilogue<T>& ep) {
  const bool dots = rs_b == 1;
  if (!dots && cs_b != 1) return false;
  if (dots && cs_a != 1) {
    // The dots form wants A's rows contiguous: copy them (M x K, a few KiB at most here).
    T* a = static_cast<T*>(tl_workspace.get(sizeof(T) * static_cast<size_t>(M * std::max<int64_t>(K, 1))));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) a[i * K + k] = A[i * rs_a + k * cs_a];
    A = a;
    rs_a = K;
    cs_a = 1;
  }
  const SkinnyFn<T> fn = dots ? cfg.skinny_dots : cfg.skinny_rows;
  constexpr int64_t kAlign = 64;  // columns per unit of work: whole tiles for every ISA level
  const int64_t units = (N + kAlign - 1) / kAlign;
  const double flops = 2.0 * double(M) * double(N) * double(std::max<int64_t>(K, 1));
  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  threads = static_cast<int>(std::max<double>(1, std::min<double>(threads, flops / kMinFlopsPerThread)));
  threads = static_cast<int>(std::min<int64_t>(threads, units));
  auto run = [&](int tid) {
    const int64_t n0 = std::min(N, units * tid / threads * kAlign);
    const int64_t n1 = std::min(N, units * (tid + 1) / threads * kAlign);
    if (n0 < n1)
      fn(SkinnyArgs<T>{M, n0, n1, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep.bias, ep.act});
  };
  if (threads == 1) {
    run(0);
  } else {
#pragma omp parallel num_threads(threads)
    run(omp_get_thread_num());
  }
  return true;
}

template <class T>
void gemm_blocked(const Config<T>& cfg, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t rs_a, int64_t cs_a, const T* B, int64_t rs_b, int64_t cs_b, T beta, T* C,
                  int64_t ldc, const Epilogue<T>& ep) {
  if (M <= 0 || N <= 0) return;
  if (M <= kSkinnyMaxRows &&
      gemm_skinny(cfg, M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep))
    return;
  const int MR = cfg.mr, NR = cfg.nr;
  // Blocks evened out: K = 784 runs as 4 x 196, not 3 x 256 + 16 (a short last block would cost
  // a full pass over C for little work). Same for the rows each thread owns (below) and NC.
  auto even = [](int64_t n, int64_t blk, int64_t unit) {
    const int64_t nb = std::max<int64_t>(1, (n + blk - 1) / blk);
    return std::max<int64_t>(unit, ((n + nb - 1) / nb + unit - 1) / unit * unit);
  };
  const int64_t KC = even(K, cfg.kc, 1), NC = even(N, cfg.nc, NR);
  const int64_t mt = (M + MR - 1) / MR;
  const int64_t ntiles_panel = (std::min(N, NC) + NR - 1) / NR;

  int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double flops = 2.0 * double(M) * double(N) * double(std::max<int64_t>(K, 1));
  threads = static_cast<int>(std::max<double>(1, std::min<double>(threads, flops / kMinFlopsPerThread)));
  threads = static_cast<int>(std::min<int64_t>(threads, mt * ntiles_panel));
  int tm, tn;
  thread_grid(threads, mt, ntiles_panel, tm, tn);

  const int64_t kc_max = std::min<int64_t>(KC, std::max<int64_t>(K, 1));
  const int64_t rows_max = (mt + tm - 1) / tm * MR;
  const int64_t MC = even(rows_max, cfg.mc, MR);
  // Workspace: two B panels (double buffered: a thread may pack the next panel while another
  // still computes with the previous one, so one barrier per panel suffices), then per thread its
  // A block, a scratch C tile and a bias tile; each rounded up to 64 bytes.
  auto round64 = [](int64_t elems) {
    return (elems * int64_t(sizeof(T)) + 63) / 64 * 64 / int64_t(sizeof(T));
  };
  const int64_t b_elems = round64(kc_max * ((std::min<int64_t>(NC, N) + NR - 1) / NR) * NR);
  const int64_t a_elems = round64(std::min(MC, rows_max) * kc_max);
  // Where the packing copies would cost about as much as they save, the microkernel reads A or B
  // in place (only edge slivers are then packed, into the per-thread scratch). Crossovers measured
  // on AVX2, one thread (MLP and square shapes from 16^3 to 256^3, numpy in the same run):
  //  - A in place when its rows are contiguous (cs_a == 1: A's rows then stream through the
  //    broadcasts) and the problem is at most 2 * 256^3 flops; transposed A reads a new cache line
  //    per k and always loses;
  //  - B in place when its rows are contiguous (cs_b == 1) and either M <= 2 MR (the packed panel
  //    would be used by at most two row tiles) or the problem is under 2 * 64^3 flops.
  const bool direct_a = cs_a == 1 && flops <= kDirectAFlops;
  const bool direct_b = cs_b == 1 && (M <= 2 * MR || flops < kDirectBFlops);
  const int64_t bsl_elems = round64(kc_max * NR);
  const int64_t per_thread = a_elems + bsl_elems + round64(MR * NR) + round64(NR);
  T* const work = static_cast<T*>(tl_workspace.get(sizeof(T) * (2 * b_elems + threads * per_thread)));

  auto body = [&](int tid) {
    const int ti = tid / tn, tj = tid % tn;
    const int64_t r0 = std::min(M, mt * ti / tm * MR), r1 = std::min(M, mt * (ti + 1) / tm * MR);
    T* const Ap = work + 2 * b_elems + tid * per_thread;
    T* const bsl = Ap + a_elems;
    T* const ctile = bsl + bsl_elems;
    T* const btile = ctile + round64(MR * NR);
    int64_t panel = 0;  // panels packed so far: picks the B buffer

    for (int64_t jc = 0; jc < N; jc += NC) {
      const int64_t nc = std::min(NC, N - jc);
      const int64_t nsl = (nc + NR - 1) / NR;
      const int64_t s0 = nsl * tj / tn, s1 = nsl * (tj + 1) / tn;
      for (int64_t pc = 0; pc < std::max<int64_t>(K, 1); pc += KC, ++panel) {
        const int64_t kc = std::min(KC, K - pc);  // 0 when K == 0: C = beta C + epilogue
        const bool first = pc == 0, last = pc + KC >= K;
        T* const Bp = work + (panel & 1) * b_elems;
        // Every thread packs a run of whole slivers of the shared B panel, then all wait for it.
        if (!direct_b) {
          const int64_t sa = nsl * tid / threads, sb = nsl * (tid + 1) / threads;
          if (sa < sb)
            cfg.pack(Bp + sa * kc * NR, NR, B + pc * rs_b + (jc + sa * NR) * cs_b, cs_b, rs_b,
                     std::min(nc, sb * NR) - sa * NR, kc);
        }
        if (threads > 1 && !direct_b) {
#pragma omp barrier
        }
        TileStore<T> st{alpha, first ? beta : T(1), nullptr, Act::none};
        for (int64_t ic = r0; ic < r1; ic += MC) {
          const int64_t mc = std::min(MC, r1 - ic);
          if (!direct_a) cfg.pack(Ap, MR, A + ic * rs_a + pc * cs_a, rs_a, cs_a, mc, kc);
          for (int64_t s = s0; s < s1; ++s) {
            const int64_t j = jc + s * NR;
            const int n = static_cast<int>(std::min<int64_t>(NR, N - j));
            const T* bs = Bp + s * kc * NR;
            int64_t rs_bs = NR;
            if (direct_b) {
              if (n == NR) {
                bs = B + pc * rs_b + j;
                rs_bs = rs_b;
              } else {
                cfg.pack(bsl, NR, B + pc * rs_b + j, 1, rs_b, n, kc);
                bs = bsl;
              }
            }
            if (last && ep.bias) {
              if (n == NR) {
                st.bias = ep.bias + j;
              } else {
                std::fill(btile, btile + NR, T(0));
                std::copy(ep.bias + j, ep.bias + j + n, btile);
                st.bias = btile;
              }
            }
            st.act = last ? ep.act : Act::none;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int m = static_cast<int>(std::min<int64_t>(MR, mc - ir));
              const T* as = Ap + ir * kc;
              UkernelFn<T> uk = cfg.packed;
              if (direct_a) {
                as = A + (ic + ir) * rs_a + pc * cs_a;
                if (m == MR) {
                  uk = cfg.strided;
                } else {
                  cfg.pack(Ap, MR, as, rs_a, cs_a, m, kc);
                  as = Ap;
                }
              }
              T* c = C + (ic + ir) * ldc + j;
              if (m == MR && n == NR) {
                uk(kc, as, rs_a, cs_a, bs, rs_bs, c, ldc, st);
              } else {
                if (st.beta != T(0))
                  for (int i = 0; i < m; ++i) std::copy(c + i * ldc, c + i * ldc + n, ctile + i * NR);
                uk(kc, as, rs_a, cs_a, bs, rs_bs, ctile, NR, st);
                for (int i = 0; i < m; ++i) std::copy(ctile + i * NR, ctile + i * NR + n, c + i * ldc);
              }
            }
          }
        }
      }
    }
  };

  if (threads == 1) {
    body(0);  // no parallel region at all: even a one-thread team costs futex calls
  } else {
#pragma omp parallel num_threads(threads)
    body(omp_get_thread_num());
  }
}

template <class T, class F>
void batched(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t bs_a,
             int64_t rs_a, int64_t cs_a, const T* B, int64_t bs_b, int64_t rs_b, int64_t cs_b, T beta,
             T* C, int64_t bs_c, int64_t ldc, const Epilogue<T>& ep, F gemm_one) {
  // One matrix per thread when each is too small to split well (inner calls then run serially).
  const bool outer = batch > 1 && 2.0 * M * N * K < kBatchOuterFlops && !omp_in_parallel() &&
                     omp_get_max_threads() > 1;
  auto one = [&](int64_t b) {
    gemm_one(M, N, K, alpha, A + b * bs_a, rs_a, cs_a, B + b * bs_b, rs_b, cs_b, beta, C + b * bs_c,
             ldc, ep);
  };
  if (outer) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < batch; ++b) one(b);
  } else {
    for (int64_t b = 0; b < batch; ++b) one(b);
  }
}

}  // namespace

const Kernels& kernels() {
  switch (current_isa()) {
    case Isa::avx512: return kernels_avx512();
    case Isa::avx2: return kernels_avx2();
    default: return kernels_ref;
  }
}

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rs_a, int64_t cs_a,
           const float* B, int64_t rs_b, int64_t cs_b, float beta, float* C, int64_t ldc,
           const Epilogue<float>& ep) {
  gemm_blocked(kernels().f32, M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep);
}

void dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rs_a,
           int64_t cs_a, const double* B, int64_t rs_b, int64_t cs_b, double beta, double* C,
           int64_t ldc, const Epilogue<double>& ep) {
  gemm_blocked(kernels().f64, M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep);
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

double peak_gflops(int threads, double seconds) {
  const Kernels& k = kernels();
  double rate = 0.0;
  // Each thread repeats a fixed chunk until it has run for `seconds` of its own CPU time (a
  // warm-up chunk first lets the clock reach its sustained speed). CPU time, not wall time: on a
  // shared machine the time slices other processes take would otherwise count as slowness. The
  // result is the sum of the threads' rates (for threads <= cores, the machine's FMA peak).
#pragma omp parallel num_threads(threads) reduction(+ : rate)
  {
    auto cpu_now = [] {
      timespec ts;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
    };
    constexpr int64_t kChunk = 1 << 16;
    k.fma_loop_f32(kChunk);
    double flops = 0.0;
    const double t0 = cpu_now();
    double t = t0;
    do {
      flops += k.fma_loop_f32(kChunk);
      t = cpu_now();
    } while (t - t0 < seconds);
    rate = flops / (t - t0);
  }
  return rate / 1e9;
}

}  // namespace gemm
}  // namespace nervo
