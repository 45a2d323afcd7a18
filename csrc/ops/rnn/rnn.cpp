// Sequence drivers of the recurrent family (contract and sizes: rnn.h): the input-projection GEMM,
// the per-step loop (hidden GEMM + fused cell pass of the current ISA), and backward through time
// with the weight gradients as one GEMM each over all steps.
#include "ops/rnn/rnn.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/cpu.h"
#include "ops/gemm/gemm.h"

namespace nervo {
namespace rnn {

const Kernels& kernels() {
  switch (current_isa()) {
    case Isa::avx512: return kernels_avx512();
    case Isa::avx2: return kernels_avx2();
    default: return kernels_ref;
  }
}

namespace {

inline void gemm_t(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t rs_a,
                   int64_t cs_a, const float* B, int64_t rs_b, int64_t cs_b, float beta, float* C,
                   int64_t ldc, const float* bias = nullptr) {
  gemm::Epilogue<float> ep;
  ep.bias = bias;
  gemm::sgemm(M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep);
}
inline void gemm_t(int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t rs_a,
                   int64_t cs_a, const double* B, int64_t rs_b, int64_t cs_b, double beta,
                   double* C, int64_t ldc, const double* bias = nullptr) {
  gemm::Epilogue<double> ep;
  ep.bias = bias;
  gemm::dgemm(M, N, K, alpha, A, rs_a, cs_a, B, rs_b, cs_b, beta, C, ldc, ep);
}

template <class T>
StepFn<T> fwd_fn(const Kernels& k);
template <>
StepFn<float> fwd_fn<float>(const Kernels& k) { return k.cell_forward_f32; }
template <>
StepFn<double> fwd_fn<double>(const Kernels& k) { return k.cell_forward_f64; }
template <class T>
StepFn<T> bwd_fn(const Kernels& k);
template <>
StepFn<float> bwd_fn<float>(const Kernels& k) { return k.cell_backward_f32; }
template <>
StepFn<double> bwd_fn<double>(const Kernels& k) { return k.cell_backward_f64; }

template <class T>
struct Rec {
  int nr;
  RecGemmFn<T> fn;
};
template <class T>
Rec<T> rec_fn(const Kernels& k);
template <>
Rec<float> rec_fn<float>(const Kernels& k) { return {k.nr_f32, k.rec_gemm_f32}; }
template <>
Rec<double> rec_fn<double>(const Kernels& k) { return {k.nr_f64, k.rec_gemm_f64}; }

// Packs B (K x N, element (k, n) at src[k * rs + n * cs]) into column panels of nr (rnn.h).
template <class T>
std::vector<T> pack_panels(const T* src, int64_t rs, int64_t cs, int64_t K, int64_t N, int nr) {
  const int64_t np = (N + nr - 1) / nr;
  std::vector<T> out(static_cast<size_t>(np * K * nr), T(0));
  for (int64_t p = 0; p < np; ++p) {
    T* dst = out.data() + p * K * nr;
    const int64_t n0 = p * nr, nn = std::min<int64_t>(nr, N - n0);
    // NOTE: the loop order follows the source's unit stride (a column-strided read of W_hh^T
    // touches a new cache line per element); the panel being written (K * nr values) stays in L1.
    if (rs == 1) {
      for (int64_t j = 0; j < nn; ++j)
        for (int64_t k = 0; k < K; ++k) dst[k * nr + j] = src[k + (n0 + j) * cs];
    } else {
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < nn; ++j) dst[k * nr + j] = src[k * rs + (n0 + j) * cs];
    }
  }
  return out;
}

// Time index of the s-th processed step and of the step before it (-1: the initial state).
inline int64_t step_time(bool reverse, int64_t T, int64_t s) { return reverse ? T - 1 - s : s; }

template <class T>
void forward_impl(const Args<T>& a, T* hs, T* cs, T* ws) {
  const int64_t Tn = a.steps, B = a.batch, I = a.input, H = a.hidden;
  if (Tn == 0 || B == 0 || H == 0) return;
  const int64_t GH = gates(a.mode) * H;
  const int64_t W = ws_units(a.mode) * H;  // row width of ws
  const bool gru = a.mode == Mode::gru;

  // Input projection of every step at once: ws[:, :, 0:GH] = x @ w_ih^T + bias. LSTM and RNN
  // fold b_hh into this bias; GRU keeps b_hh inside r * (W_hn h + b_hn).
  std::vector<T> bias;
  const T* xbias = a.b_ih;
  if (!gru && a.b_hh) {
    bias.assign(a.b_hh, a.b_hh + GH);
    if (a.b_ih)
      for (int64_t g = 0; g < GH; ++g) bias[g] += a.b_ih[g];
    xbias = bias.data();
  }
  // B = w_ih^T read through strides (element (k, n) at w_ih[n * I + k]): the GEMM packs its B
  // panels anyway, so an explicit transpose first (4 KB-strided writes at GH = 1024: ~0.35 ms per
  // call, measured) bought nothing.
  gemm_t(Tn * B, GH, I, T(1), a.x, I, 1, a.w_ih, 1, I, T(0), ws, W, xbias);

  std::vector<T> gh(gru ? B * GH : 0);
  const StepFn<T> cell = fwd_fn<T>(kernels());
  const Rec<T> rec = rec_fn<T>(kernels());
  const std::vector<T> w_hh_p = pack_panels(a.w_hh, 1, H, H, GH, rec.nr);  // W_hh^T: H x GH
  StepArgs<T> st{};
  st.mode = a.mode;
  st.B = B;
  st.H = H;
  st.lengths = a.lengths;
  for (int64_t s = 0; s < Tn; ++s) {
    const int64_t t = step_time(a.reverse, Tn, s);
    const int64_t tp = a.reverse ? t + 1 : t - 1;
    const T* hp = s == 0 ? a.h0 : hs + tp * B * H;
    T* ws_t = ws + t * B * W;
    if (gru) {
      rec.fn(B, GH, H, hp, H, w_hh_p.data(), false, a.b_hh, gh.data(), GH);
    } else {
      rec.fn(B, GH, H, hp, H, w_hh_p.data(), true, nullptr, ws_t, W);
    }
    st.t = t;
    st.ws_t = ws_t;
    st.gh = gh.data();
    st.h_prev = hp;
    st.h = hs + t * B * H;
    if (a.mode == Mode::lstm) {
      st.c_prev = s == 0 ? a.c0 : cs + tp * B * H;
      st.c = cs + t * B * H;
    }
    cell(st);
  }
}

template <class T>
void column_sums(const T* m, int64_t rows, int64_t ld, int64_t col0, int64_t ncols, T* out) {
  std::fill(out, out + ncols, T(0));
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = m + r * ld + col0;
    for (int64_t j = 0; j < ncols; ++j) out[j] += row[j];
  }
}

template <class T>
void backward_impl(const Args<T>& a, const T* hs, const T* cs, const T* ws, const T* dhs,
                   const T* dcn, T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, T* dh0, T* dc0) {
  const int64_t Tn = a.steps, B = a.batch, I = a.input, H = a.hidden;
  const int64_t G = gates(a.mode), GH = G * H;
  const int64_t W = ws_units(a.mode) * H;
  const int64_t DW = W;  // gate-gradient row width: LSTM [i f g o], GRU [r z hn n], RNN [a]
  const bool gru = a.mode == Mode::gru, lstm = a.mode == Mode::lstm;
  const int64_t TB = Tn * B;

  // Every entry of dg is written by the cell pass (padded rows get zeros), so no fill: a
  // value-initialized vector would memset T * B * 4H values (8 MB at the LSTM benchmark's shape).
  std::unique_ptr<T[]> dg_buf(new T[static_cast<size_t>(std::max<int64_t>(TB * DW, 1))]);
  T* const dgp = dg_buf.get();
  std::vector<T> dh(static_cast<size_t>(B * H), T(0));
  std::vector<T> dc(lstm ? static_cast<size_t>(B * H) : 0, T(0));
  if (lstm && dcn) std::copy(dcn, dcn + B * H, dc.begin());

  // LSTM / RNN: dx_t = dg_t @ W_ih right after the step, while dg_t is in L1, on the same
  // pre-packed kernel (measured ~95 GFLOP/s at B = 32 against ~86 for one dx GEMM at the end).
  const bool dx_per_step = dx != nullptr && !gru && TB > 0 && H > 0 && I > 0;
  if (TB > 0 && H > 0) {
    const StepFn<T> cell = bwd_fn<T>(kernels());
    const Rec<T> rec = rec_fn<T>(kernels());
    const std::vector<T> w_hh_p = pack_panels(a.w_hh, H, 1, GH, H, rec.nr);  // W_hh: GH x H
    const std::vector<T> w_ih_p =
        dx_per_step ? pack_panels(a.w_ih, I, 1, GH, I, rec.nr) : std::vector<T>();  // GH x I
    StepArgs<T> st{};
    st.mode = a.mode;
    st.B = B;
    st.H = H;
    st.lengths = a.lengths;
    st.dh_io = dh.data();
    st.dc_io = dc.data();
    for (int64_t s = Tn - 1; s >= 0; --s) {
      const int64_t t = step_time(a.reverse, Tn, s);
      const int64_t tp = a.reverse ? t + 1 : t - 1;
      st.t = t;
      st.ws_t = const_cast<T*>(ws + t * B * W);
      st.h_prev = s == 0 ? a.h0 : hs + tp * B * H;
      st.h = const_cast<T*>(hs + t * B * H);
      if (lstm) {
        st.c_prev = s == 0 ? a.c0 : cs + tp * B * H;
        st.c = const_cast<T*>(cs + t * B * H);
      }
      st.dh_in = dhs + t * B * H;
      st.dg_t = dgp + t * B * DW;
      cell(st);
      // dh_prev += dg_h @ w_hh (dg_h: the first GH columns in every mode)
      rec.fn(B, H, GH, st.dg_t, DW, w_hh_p.data(), true, nullptr, dh.data(), H);
      if (dx_per_step)
        rec.fn(B, I, GH, st.dg_t, DW, w_ih_p.data(), false, nullptr, dx + t * B * I, I);
    }
  }
  std::copy(dh.begin(), dh.end(), dh0);
  if (lstm && dc0) std::copy(dc.begin(), dc.end(), dc0);

  // LSTM and RNN: dg holds the same gate gradients for both weights, so [dw_ih | dw_hh] =
  // dg^T @ [x_t | h_prev(t)] is one GEMM over all steps (K = T * B): dg^T is packed once instead of
  // twice and N = I + H fills the tiles better (measured at the LSTM benchmark's shape, one AVX2
  // thread: 18.2 ms against 12.2 + 6.6 ms for the two GEMMs; building [x | h_prev] costs ~0.2 ms).
  // An empty batch or sequence (K = 0) gives zero weight gradients.
  if (!gru) {
    const int64_t IH = I + H;
    std::unique_ptr<T[]> xh(new T[static_cast<size_t>(TB * IH)]);
    for (int64_t t = 0; t < Tn; ++t) {
      const int64_t s = a.reverse ? Tn - 1 - t : t;  // processing position of time t
      const T* hp = s == 0 ? a.h0 : hs + (a.reverse ? t + 1 : t - 1) * B * H;
      for (int64_t b = 0; b < B; ++b) {
        T* row = xh.get() + (t * B + b) * IH;
        std::copy(a.x + (t * B + b) * I, a.x + (t * B + b) * I + I, row);
        std::copy(hp + b * H, hp + b * H + H, row + I);
      }
    }
    std::unique_ptr<T[]> dw(new T[static_cast<size_t>(GH * IH)]);
    gemm_t(GH, IH, TB, T(1), dgp, 1, DW, xh.get(), IH, 1, T(0), dw.get(), IH);
    for (int64_t g = 0; g < GH; ++g) {
      std::copy(dw.get() + g * IH, dw.get() + g * IH + I, dw_ih + g * I);
      std::copy(dw.get() + g * IH + I, dw.get() + g * IH + IH, dw_hh + g * H);
    }
    if (dx && !dx_per_step) gemm_t(TB, I, GH, T(1), dgp, DW, 1, a.w_ih, I, 1, T(0), dx, I);
  }
  // GRU: dw_hh = sum_t dg_h[t]^T @ h_prev[t] (the step that read h0, then all others as one
  // GEMM); dw_ih = dg_x^T @ x and dx = dg_x @ w_ih with dg_x = columns [0, 2H) and [3H, 4H).
  if (gru) {
    const int64_t t0 = a.reverse ? Tn - 1 : 0;
    const T* dg0 = Tn > 0 ? dgp + t0 * B * DW : dgp;
    gemm_t(GH, H, Tn > 0 ? B : 0, T(1), dg0, 1, DW, a.h0, H, 1, T(0), dw_hh, H);
    if (Tn > 1) {
      const T* dgr = a.reverse ? dgp : dgp + B * DW;
      const T* hpr = a.reverse ? hs + B * H : hs;
      gemm_t(GH, H, (Tn - 1) * B, T(1), dgr, 1, DW, hpr, H, 1, T(1), dw_hh, H);
    }
    gemm_t(2 * H, I, TB, T(1), dgp, 1, DW, a.x, I, 1, T(0), dw_ih, I);
    gemm_t(H, I, TB, T(1), dgp + 3 * H, 1, DW, a.x, I, 1, T(0), dw_ih + 2 * H * I, I);
    if (dx) {
      gemm_t(TB, I, 2 * H, T(1), dgp, DW, 1, a.w_ih, I, 1, T(0), dx, I);
      gemm_t(TB, I, H, T(1), dgp + 3 * H, DW, 1, a.w_ih + 2 * H * I, I, 1, T(1), dx, I);
    }
  }
  if (db_hh) column_sums(dgp, TB, DW, 0, GH, db_hh);
  if (db_ih) {
    if (!gru) {
      if (db_hh) std::copy(db_hh, db_hh + GH, db_ih);
      else column_sums(dgp, TB, DW, 0, GH, db_ih);
    } else {
      column_sums(dgp, TB, DW, 0, 2 * H, db_ih);
      column_sums(dgp, TB, DW, 3 * H, H, db_ih + 2 * H);
    }
  }
}

}  // namespace

void forward_f32(const Args<float>& a, float* hs, float* cs, float* ws) { forward_impl(a, hs, cs, ws); }
void forward_f64(const Args<double>& a, double* hs, double* cs, double* ws) {
  forward_impl(a, hs, cs, ws);
}
void backward_f32(const Args<float>& a, const float* hs, const float* cs, const float* ws,
                  const float* dhs, const float* dcn, float* dx, float* dw_ih, float* dw_hh,
                  float* db_ih, float* db_hh, float* dh0, float* dc0) {
  backward_impl(a, hs, cs, ws, dhs, dcn, dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0);
}
void backward_f64(const Args<double>& a, const double* hs, const double* cs, const double* ws,
                  const double* dhs, const double* dcn, double* dx, double* dw_ih,
                  double* dw_hh, double* db_ih, double* db_hh, double* dh0, double* dc0) {
  backward_impl(a, hs, cs, ws, dhs, dcn, dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0);
}

}  // namespace rnn
}  // namespace nervo
