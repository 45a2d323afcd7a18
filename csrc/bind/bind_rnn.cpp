// Bindings of the recurrent family: rnn_forward / rnn_backward (one layer, one direction, the whole
// sequence; contract in csrc/ops/rnn/rnn.h). Optional arrays are None.
#include <string>

#include "bind/common.h"
#include "bind/optional.h"
#include "ops/rnn/rnn.h"

namespace nervo {
namespace bind {

namespace {

constexpr const char* kFwd = "nervo.ops.rnn_forward";
constexpr const char* kBwd = "nervo.ops.rnn_backward";

rnn::Mode to_mode(int m, const char* call) {
  if (m < 0 || m > 3) throw std::invalid_argument(std::string(call) + ": unknown mode " + std::to_string(m));
  return static_cast<rnn::Mode>(m);
}

void require_ndim(const py::array& a, int nd, const char* call, const char* arg) {
  if (a.ndim() != nd)
    throw std::invalid_argument(std::string(call) + ": " + arg + " must have " + std::to_string(nd) +
                                " dimensions, got shape " + shape_str(a));
}

const int64_t* lengths_ptr(const py::object& o, py::ssize_t B, const char* call) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  if (!a.dtype().is(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(call) + ": lengths must be int64, got " + dtype_str(a));
  require_size(a, B, call, "lengths");
  require_contiguous(a, call, "lengths");
  return static_cast<const int64_t*>(a.data());
}

template <class T>
struct Common {
  rnn::Args<T> args;
  py::ssize_t TBH, BH;
};

// Validates the forward inputs shared by both calls and fills the kernel arguments.
template <class T>
Common<T> common(int mode, bool reverse, const py::array& x, const py::array& w_ih,
                 const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                 const py::array& h0, const py::object& c0, const py::object& lengths,
                 DType dt, const char* call) {
  Common<T> c{};
  rnn::Args<T>& a = c.args;
  a.mode = to_mode(mode, call);
  a.reverse = reverse;
  require_ndim(x, 3, call, "x");
  require_ndim(w_ih, 2, call, "w_ih");
  require_ndim(w_hh, 2, call, "w_hh");
  require_dtype(w_ih, dt, call, "w_ih");
  require_dtype(w_hh, dt, call, "w_hh");
  require_dtype(h0, dt, call, "h0");
  a.steps = x.shape(0);
  a.batch = x.shape(1);
  a.input = x.shape(2);
  a.hidden = w_hh.shape(1);
  const py::ssize_t GH = rnn::gates(a.mode) * a.hidden;
  if (w_hh.shape(0) != GH || w_ih.shape(0) != GH || w_ih.shape(1) != a.input)
    throw std::invalid_argument(std::string(call) + ": weight shapes w_ih " + shape_str(w_ih) +
                                ", w_hh " + shape_str(w_hh) + " do not fit x " + shape_str(x) +
                                " and " + std::to_string(rnn::gates(a.mode)) + " gates");
  c.BH = a.batch * a.hidden;
  c.TBH = a.steps * c.BH;
  require_size(h0, c.BH, call, "h0");
  a.x = in_ptr<T>(x, call, "x");
  a.w_ih = in_ptr<T>(w_ih, call, "w_ih");
  a.w_hh = in_ptr<T>(w_hh, call, "w_hh");
  a.b_ih = opt_in<T>(b_ih, dt, GH, call, "b_ih");
  a.b_hh = opt_in<T>(b_hh, dt, GH, call, "b_hh");
  a.h0 = in_ptr<T>(h0, call, "h0");
  a.c0 = opt_in<T>(c0, dt, c.BH, call, "c0");
  if (a.mode == rnn::Mode::lstm && !a.c0)
    throw std::invalid_argument(std::string(call) + ": LSTM needs c0");
  a.lengths = lengths_ptr(lengths, a.batch, call);
  return c;
}

template <class T>
void forward_t(int mode, bool reverse, const py::array& x, const py::array& w_ih,
               const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
               const py::array& h0, const py::object& c0, const py::object& lengths,
               py::array& hs, const py::object& cs, py::array& ws, DType dt) {
  Common<T> c = common<T>(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, dt, kFwd);
  const rnn::Args<T>& a = c.args;
  require_dtype(hs, dt, kFwd, "hs");
  require_size(hs, c.TBH, kFwd, "hs");
  require_dtype(ws, dt, kFwd, "ws");
  require_size(ws, c.TBH * rnn::ws_units(a.mode), kFwd, "ws");
  T* hsp = out_ptr<T>(hs, kFwd, "hs");
  T* wsp = out_ptr<T>(ws, kFwd, "ws");
  T* csp = opt_out<T>(cs, dt, c.TBH, kFwd, "cs");
  if (a.mode == rnn::Mode::lstm && !csp) throw std::invalid_argument(std::string(kFwd) + ": LSTM needs cs");
  py::gil_scoped_release nogil;
  if constexpr (std::is_same<T, float>::value) rnn::forward_f32(a, hsp, csp, wsp);
  else rnn::forward_f64(a, hsp, csp, wsp);
}

void rnn_forward(int mode, bool reverse, const py::array& x, const py::array& w_ih,
                 const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                 const py::array& h0, const py::object& c0, const py::object& lengths,
                 py::array& hs, const py::object& cs, py::array& ws) {
  const DType dt = float_dtype(x, kFwd, "x");
  if (dt == DType::f32) forward_t<float>(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, hs, cs, ws, dt);
  else forward_t<double>(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, hs, cs, ws, dt);
}

template <class T>
void backward_t(int mode, bool reverse, const py::array& x, const py::array& w_ih,
                const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                const py::array& h0, const py::object& c0, const py::object& lengths,
                const py::array& hs, const py::object& cs, const py::array& ws,
                const py::array& dhs, const py::object& dcn, const py::object& dx, py::array& dw_ih,
                py::array& dw_hh, const py::object& db_ih, const py::object& db_hh,
                py::array& dh0, const py::object& dc0, DType dt) {
  Common<T> c = common<T>(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, dt, kBwd);
  const rnn::Args<T>& a = c.args;
  const bool lstm = a.mode == rnn::Mode::lstm;
  const py::ssize_t GH = rnn::gates(a.mode) * a.hidden;
  require_dtype(hs, dt, kBwd, "hs");
  require_size(hs, c.TBH, kBwd, "hs");
  require_dtype(ws, dt, kBwd, "ws");
  require_size(ws, c.TBH * rnn::ws_units(a.mode), kBwd, "ws");
  require_dtype(dhs, dt, kBwd, "dhs");
  require_size(dhs, c.TBH, kBwd, "dhs");
  require_dtype(dw_ih, dt, kBwd, "dw_ih");
  require_size(dw_ih, w_ih.size(), kBwd, "dw_ih");
  require_dtype(dw_hh, dt, kBwd, "dw_hh");
  require_size(dw_hh, w_hh.size(), kBwd, "dw_hh");
  require_dtype(dh0, dt, kBwd, "dh0");
  require_size(dh0, c.BH, kBwd, "dh0");
  const T* hsp = in_ptr<T>(hs, kBwd, "hs");
  const T* csp = opt_in<T>(cs, dt, c.TBH, kBwd, "cs");
  const T* wsp = in_ptr<T>(ws, kBwd, "ws");
  const T* dhsp = in_ptr<T>(dhs, kBwd, "dhs");
  const T* dcnp = opt_in<T>(dcn, dt, c.BH, kBwd, "dcn");
  T* dxp = opt_out<T>(dx, dt, x.size(), kBwd, "dx");
  T* dwip = out_ptr<T>(dw_ih, kBwd, "dw_ih");
  T* dwhp = out_ptr<T>(dw_hh, kBwd, "dw_hh");
  T* dbip = opt_out<T>(db_ih, dt, GH, kBwd, "db_ih");
  T* dbhp = opt_out<T>(db_hh, dt, GH, kBwd, "db_hh");
  T* dh0p = out_ptr<T>(dh0, kBwd, "dh0");
  T* dc0p = opt_out<T>(dc0, dt, c.BH, kBwd, "dc0");
  if ((a.b_ih != nullptr) != (dbip != nullptr) || (a.b_hh != nullptr) != (dbhp != nullptr))
    throw std::invalid_argument(std::string(kBwd) + ": db_ih/db_hh must be given exactly when b_ih/b_hh are");
  if (lstm && (!csp || !dc0p)) throw std::invalid_argument(std::string(kBwd) + ": LSTM needs cs and dc0");
  py::gil_scoped_release nogil;
  if constexpr (std::is_same<T, float>::value)
    rnn::backward_f32(a, hsp, csp, wsp, dhsp, dcnp, dxp, dwip, dwhp, dbip, dbhp, dh0p, dc0p);
  else
    rnn::backward_f64(a, hsp, csp, wsp, dhsp, dcnp, dxp, dwip, dwhp, dbip, dbhp, dh0p, dc0p);
}

void rnn_backward(int mode, bool reverse, const py::array& x, const py::array& w_ih,
                  const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                  const py::array& h0, const py::object& c0, const py::object& lengths,
                  const py::array& hs, const py::object& cs, const py::array& ws,
                  const py::array& dhs, const py::object& dcn, const py::object& dx, py::array& dw_ih,
                  py::array& dw_hh, const py::object& db_ih, const py::object& db_hh,
                  py::array& dh0, const py::object& dc0) {
  const DType dt = float_dtype(x, kBwd, "x");
  if (dt == DType::f32)
    backward_t<float>(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, hs, cs, ws, dhs,
                      dcn, dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, dt);
  else
    backward_t<double>(mode, reverse, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, hs, cs, ws, dhs,
                       dcn, dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, dt);
}

}  // namespace

void bind_rnn(py::module_& m, py::list& kernels) {
  m.def("rnn_forward", &rnn_forward, py::arg("mode"), py::arg("reverse"), py::arg("x"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true),
        py::arg("h0"), py::arg("c0").none(true), py::arg("lengths").none(true), py::arg("hs"),
        py::arg("cs").none(true), py::arg("ws"));
  m.def("rnn_backward", &rnn_backward, py::arg("mode"), py::arg("reverse"), py::arg("x"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih").none(true), py::arg("b_hh").none(true),
        py::arg("h0"), py::arg("c0").none(true), py::arg("lengths").none(true), py::arg("hs"),
        py::arg("cs").none(true), py::arg("ws"), py::arg("dhs"), py::arg("dcn").none(true),
        py::arg("dx").none(true), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db_ih").none(true),
        py::arg("db_hh").none(true), py::arg("dh0"), py::arg("dc0").none(true));
  kernels.append("rnn_forward");
  kernels.append("rnn_backward");
}

}  // namespace bind
}  // namespace nervo
