// Bindings of the convolution family: conv2d_forward / conv2d_backward (NCHW, see ops/conv/conv.h).
#include "bind/common.h"
#include "ops/conv/conv.h"

#include <optional>

namespace nervo {
namespace bind {

namespace {

constexpr const char* kFwd = "nervo.ops.conv2d";
constexpr const char* kBwd = "nervo.ops.conv2d_backward";

void require_ndim(const py::array& a, py::ssize_t nd, const char* call, const char* arg) {
  if (a.ndim() != nd)
    throw std::invalid_argument(std::string(call) + ": " + arg + " must be " + std::to_string(nd) +
                                "-D, got shape " + shape_str(a));
}

// An optional array argument: None -> nullptr; otherwise an array of dtype dt.
std::optional<py::array> optional_array(const py::object& o, DType dt, const char* call,
                                        const char* arg) {
  if (o.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(call) + ": " + arg + " must be a numpy.ndarray or None");
  py::array a = py::reinterpret_borrow<py::array>(o);
  require_dtype(a, dt, call, arg);
  return a;
}

conv::Shape make_shape(const py::array& x, const py::array& w, int64_t K, int64_t P, int64_t Q,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                       int64_t groups, const char* call) {
  require_ndim(x, 4, call, "x");
  require_ndim(w, 4, call, "w");
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0 || groups < 1)
    throw std::invalid_argument(std::string(call) +
                                ": stride and dilation must be >= 1, padding >= 0, groups >= 1");
  conv::Shape s{x.shape(0), x.shape(1), x.shape(2), x.shape(3), K, w.shape(2), w.shape(3), P, Q,
                sh, sw, ph, pw, dh, dw, groups};
  if (s.C % groups || s.K % groups || w.shape(0) != s.K || w.shape(1) * groups != s.C)
    throw std::invalid_argument(std::string(call) + ": x has shape " + shape_str(x) + ", w has shape " +
                                shape_str(w) + " and groups=" + std::to_string(groups) +
                                ": need w.shape[1] * groups == channels of x and groups | w.shape[0]");
  return s;
}

void conv2d_forward(const py::array& x, const py::array& w, const py::object& bias_o, py::array& y,
                    int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                    int64_t groups, int act) {
  const DType dt = float_dtype(x, kFwd, "x");
  require_dtype(w, dt, kFwd, "w");
  require_dtype(y, dt, kFwd, "out");
  require_ndim(y, 4, kFwd, "out");
  if (act < 0 || act > 1) throw std::invalid_argument(std::string(kFwd) + ": unknown activation id");
  const conv::Shape s =
      make_shape(x, w, w.shape(0), y.shape(2), y.shape(3), sh, sw, ph, pw, dh, dw, groups, kFwd);
  if (y.shape(0) != s.N || y.shape(1) != s.K)
    throw std::invalid_argument(std::string(kFwd) + ": out has shape " + shape_str(y) +
                                ", expected batch and channels (" + std::to_string(s.N) + ", " +
                                std::to_string(s.K) + ")");
  const std::optional<py::array> bias = optional_array(bias_o, dt, kFwd, "bias");
  if (bias) require_size(*bias, s.K, kFwd, "bias");
  const auto a = static_cast<conv::Act>(act);
  if (dt == DType::f32) {
    const float* xp = in_ptr<float>(x, kFwd, "x");
    const float* wp = in_ptr<float>(w, kFwd, "w");
    const float* bp = bias ? in_ptr<float>(*bias, kFwd, "bias") : nullptr;
    float* yp = out_ptr<float>(y, kFwd, "out");
    py::gil_scoped_release nogil;
    conv::conv2d_forward<float>(s, xp, wp, bp, yp, a);
  } else {
    const double* xp = in_ptr<double>(x, kFwd, "x");
    const double* wp = in_ptr<double>(w, kFwd, "w");
    const double* bp = bias ? in_ptr<double>(*bias, kFwd, "bias") : nullptr;
    double* yp = out_ptr<double>(y, kFwd, "out");
    py::gil_scoped_release nogil;
    conv::conv2d_forward<double>(s, xp, wp, bp, yp, a);
  }
}

template <class T>
void backward_typed(const conv::Shape& s, const py::array& dy, const py::array& x,
                    const py::array& w, std::optional<py::array>& dx,
                    std::optional<py::array>& dw, std::optional<py::array>& db) {
  const T* gp = in_ptr<T>(dy, kBwd, "dy");
  const T* xp = in_ptr<T>(x, kBwd, "x");
  const T* wp = in_ptr<T>(w, kBwd, "w");
  T* dxp = dx ? out_ptr<T>(*dx, kBwd, "dx") : nullptr;
  T* dwp = dw ? out_ptr<T>(*dw, kBwd, "dw") : nullptr;
  T* dbp = db ? out_ptr<T>(*db, kBwd, "db") : nullptr;
  py::gil_scoped_release nogil;
  if (dxp) conv::conv2d_backward_data<T>(s, gp, wp, dxp);
  if (dwp || dbp) conv::conv2d_backward_weight<T>(s, gp, xp, dwp, dbp);
}

void conv2d_backward(const py::array& dy, const py::array& x, const py::array& w,
                     const py::object& dx_o, const py::object& dw_o, const py::object& db_o,
                     int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw,
                     int64_t groups) {
  const DType dt = float_dtype(dy, kBwd, "dy");
  require_dtype(x, dt, kBwd, "x");
  require_dtype(w, dt, kBwd, "w");
  require_ndim(dy, 4, kBwd, "dy");
  const conv::Shape s =
      make_shape(x, w, w.shape(0), dy.shape(2), dy.shape(3), sh, sw, ph, pw, dh, dw, groups, kBwd);
  if (dy.shape(0) != s.N || dy.shape(1) != s.K)
    throw std::invalid_argument(std::string(kBwd) + ": dy has shape " + shape_str(dy) +
                                ", expected batch and channels (" + std::to_string(s.N) + ", " +
                                std::to_string(s.K) + ")");
  std::optional<py::array> dxa = optional_array(dx_o, dt, kBwd, "dx");
  std::optional<py::array> dwa = optional_array(dw_o, dt, kBwd, "dw");
  std::optional<py::array> dba = optional_array(db_o, dt, kBwd, "db");
  if (dxa) require_size(*dxa, x.size(), kBwd, "dx");
  if (dwa) require_size(*dwa, w.size(), kBwd, "dw");
  if (dba) require_size(*dba, s.K, kBwd, "db");
  if (dt == DType::f32)
    backward_typed<float>(s, dy, x, w, dxa, dwa, dba);
  else
    backward_typed<double>(s, dy, x, w, dxa, dwa, dba);
}

}  // namespace

void bind_conv(py::module_& m, py::list& kernels) {
  m.def("conv2d_forward", &conv2d_forward, py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("y"), py::arg("sh"), py::arg("sw"), py::arg("ph"), py::arg("pw"), py::arg("dh"),
        py::arg("dw"), py::arg("groups"), py::arg("act"));
  m.def("conv2d_backward", &conv2d_backward, py::arg("dy"), py::arg("x"), py::arg("w"),
        py::arg("dx"), py::arg("dw"), py::arg("db"), py::arg("sh"), py::arg("sw"), py::arg("ph"),
        py::arg("pw"), py::arg("dh"), py::arg("dil_w"), py::arg("groups"));
  kernels.append("conv2d_forward");
  kernels.append("conv2d_backward");
}

}  // namespace bind
}  // namespace nervo
