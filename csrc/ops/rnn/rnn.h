// Recurrent layers (Elman RNN tanh/relu, LSTM, GRU): one layer, one direction, the whole sequence.
//
// Sizes: T (steps), B (batch), I (input features), H (hidden), G (gates: 1 RNN, 4 LSTM, 3 GRU).
// Layouts (C-contiguous, PyTorch's gate order and parameter shapes):
//   x (T, B, I); w_ih (G*H, I); w_hh (G*H, H); b_ih, b_hh (G*H) or nullptr; h0, c0 (B, H);
//   lengths (B) int64 or nullptr (all T).
// Forward:  overwrites hs (T, B, H): the carried hidden state after step t (at a padded step
//   t >= lengths[b] the state is carried unchanged, so hs[T-1] (forward) / hs[0] (reverse) is
//   PyTorch's h_n for a packed batch; zeroing padded outputs is the caller's business);
//   cs (T, B, H) likewise for LSTM cell states (unused otherwise, may be nullptr);
//   ws (T, B, W) saved for backward: LSTM W=4H activated gates [i f g o]; GRU W=4H [r z n hn]
//   with hn = W_hn h + b_hn; RNN W=H (pre-activation scratch).
//   Work: one GEMM for the input projection of all steps (bias fused), then per step one GEMM
//   for the hidden projection and one fused pass for the nonlinearities and the state update.
// Backward: inputs dhs (T, B, H) = dL/dhs (gradient of the carried states, h_n's gradient added
//   by the caller) and dcn (B, H) or nullptr (LSTM: dL/dc_n). Overwrites dx (T,B,I; nullptr: not
//   wanted, its GEMM is skipped), dw_ih, dw_hh,
//   db_ih, db_hh (when the biases exist), dh0, dc0 (LSTM). Backward through time: per step one
//   fused pass (gate gradients) and one GEMM (dh_prev; LSTM/RNN also dx_t, both on weights packed
//   once), then the weight gradients over all steps (LSTM/RNN: [dw_ih | dw_hh] as one GEMM).
// reverse: process t = T-1 .. 0 (the backward direction of a bidirectional layer).
// Threads: the GEMMs are parallel; fused passes are parallel over batch rows when large enough.
#pragma once
#include <cstdint>

namespace nervo {
namespace rnn {

// Values are part of the binding ABI (python/nervo/ops/rnn.py mirrors them).
enum class Mode : int { rnn_tanh = 0, rnn_relu = 1, lstm = 2, gru = 3 };

inline int gates(Mode m) { return m == Mode::lstm ? 4 : m == Mode::gru ? 3 : 1; }
// Width of ws per (t, b) row, in units of H.
inline int ws_units(Mode m) { return m == Mode::lstm || m == Mode::gru ? 4 : 1; }

template <class T>
struct Args {
  Mode mode;
  bool reverse;
  int64_t steps, batch, input, hidden;  // T, B, I, H
  const T* x;
  const T* w_ih;
  const T* w_hh;
  const T* b_ih;  // nullptr: no bias
  const T* b_hh;
  const T* h0;
  const T* c0;  // LSTM only
  const int64_t* lengths;  // nullptr: every sequence has T steps
};

// The fused per-step passes, one table per ISA level (rnn_ref.cpp, rnn_avx2.cpp, rnn_avx512.cpp).
// Rows b in [0, B); `active(b)` is t < lengths[b].
//   cell_forward: reads pre-activations from ws_t (and gh for GRU: h-projection + b_hh, B x 3H),
//     h_prev, c_prev; writes ws_t (saved values), h, c.
//   cell_backward: reads dh_in (dhs[t]), carry dh (dh_io, overwritten with the direct part of
//     dh_prev), dc_io (LSTM, overwritten with dc_prev), saved ws_t, h_t, c_t, h_prev, c_prev;
//     writes dg_t (gate gradients, layout of rnn.cpp).
template <class T>
struct StepArgs {
  Mode mode;
  int64_t B, H;
  const int64_t* lengths;
  int64_t t;
  T* ws_t;
  const T* gh;
  const T* h_prev;
  const T* c_prev;
  T* h;
  T* c;
  // backward
  const T* dh_in;
  T* dh_io;
  T* dc_io;
  T* dg_t;
};

template <class T>
using StepFn = void (*)(const StepArgs<T>& a);

// The recurrent product, C (M x N) = [C +] A (M x K, row stride lda) @ B [+ bias], with B packed
// once per sequence (pack_panels in rnn.cpp) into column panels of `nr` columns: panel p holds
// columns [p*nr, p*nr + nr) as K rows of nr contiguous values, zero-padded past N. The packed
// weights are reused by every step (a generic GEMM would repack them on each call), and panels are
// split across threads the same way every step, so each core keeps its part in its own L2.
template <class T>
using RecGemmFn = void (*)(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* Bp,
                           bool accumulate, const T* bias, T* C, int64_t ldc);

struct Kernels {
  StepFn<float> cell_forward_f32;
  StepFn<float> cell_backward_f32;
  StepFn<double> cell_forward_f64;
  StepFn<double> cell_backward_f64;
  int nr_f32;  // panel width of rec_gemm_f32
  RecGemmFn<float> rec_gemm_f32;
  int nr_f64;
  RecGemmFn<double> rec_gemm_f64;
};

extern const Kernels kernels_ref;
const Kernels& kernels_avx2();  // defined in the ISA TU, built on first call
const Kernels& kernels_avx512();  // defined in the ISA TU, built on first call
const Kernels& kernels();

// Whole-sequence drivers (rnn.cpp).
void forward_f32(const Args<float>& a, float* hs, float* cs, float* ws);
void forward_f64(const Args<double>& a, double* hs, double* cs, double* ws);
void backward_f32(const Args<float>& a, const float* hs, const float* cs, const float* ws,
                  const float* dhs, const float* dcn, float* dx, float* dw_ih, float* dw_hh,
                  float* db_ih, float* db_hh, float* dh0, float* dc0);
void backward_f64(const Args<double>& a, const double* hs, const double* cs, const double* ws,
                  const double* dhs, const double* dcn, double* dx, double* dw_ih,
                  double* dw_hh, double* db_ih, double* db_hh, double* dh0, double* dc0);

}  // namespace rnn
}  // namespace nervo
