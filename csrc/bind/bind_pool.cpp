// Bindings of the pooling family (NCHW planes, see ops/pool/pool.h). Inputs are viewed as
// (N*C, H, W) planes: x and y must have at least 2 dims; the last two are H, W / P, Q and the
// leading ones must agree.
#include "bind/common.h"
#include "ops/pool/pool.h"

namespace nervo {
namespace bind {

namespace {

constexpr const char* kMaxF = "nervo.ops.max_pool2d";
constexpr const char* kMaxB = "nervo.ops.max_pool2d_backward";
constexpr const char* kAvgF = "nervo.ops.avg_pool2d";
constexpr const char* kAvgB = "nervo.ops.avg_pool2d_backward";
constexpr const char* kAdaF = "nervo.ops.adaptive_avg_pool2d";
constexpr const char* kAdaB = "nervo.ops.adaptive_avg_pool2d_backward";

// Shape of planes: input a (..., H, W), output b (..., P, Q) with the same leading dims.
pool::Shape planes(const py::array& in, const py::array& out, const char* call, const char* in_name,
                   const char* out_name) {
  if (in.ndim() < 2 || in.ndim() != out.ndim())
    throw std::invalid_argument(std::string(call) + ": " + in_name + " has shape " + shape_str(in) +
                                " and " + out_name + " has shape " + shape_str(out) +
                                "; need the same rank >= 2");
  int64_t nc = 1;
  for (py::ssize_t i = 0; i + 2 < in.ndim(); ++i) {
    if (in.shape(i) != out.shape(i))
      throw std::invalid_argument(std::string(call) + ": " + in_name + " has shape " +
                                  shape_str(in) + " but " + out_name + " has shape " +
                                  shape_str(out) + "; leading dims must match");
    nc *= in.shape(i);
  }
  const py::ssize_t d = in.ndim();
  pool::Shape s{};
  s.NC = nc;
  s.H = in.shape(d - 2);
  s.W = in.shape(d - 1);
  s.P = out.shape(d - 2);
  s.Q = out.shape(d - 1);
  return s;
}

void window(pool::Shape& s, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
            int64_t dh, int64_t dw, const char* call) {
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0)
    throw std::invalid_argument(std::string(call) +
                                ": kernel size, stride and dilation must be >= 1 and padding >= 0");
  s.R = kh; s.S = kw; s.sh = sh; s.sw = sw; s.ph = ph; s.pw = pw; s.dh = dh; s.dw = dw;
}

void require_index(const py::array& a, const char* call, const char* arg) {
  const py::dtype dt = a.dtype();
  if (!(dt.is(py::dtype::of<int64_t>()) && dt.byteorder() != '>'))
    throw py::type_error(std::string(call) + ": " + arg + " must be int64, got " + dtype_str(a));
}

void max_pool2d_forward(const py::array& x, py::array& y, py::array& idx, int64_t kh, int64_t kw,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw) {
  const DType dt = float_dtype(x, kMaxF, "x");
  require_dtype(y, dt, kMaxF, "out");
  require_index(idx, kMaxF, "indices");
  pool::Shape s = planes(x, y, kMaxF, "x", "out");
  require_size(idx, y.size(), kMaxF, "indices");
  window(s, kh, kw, sh, sw, ph, pw, dh, dw, kMaxF);
  int64_t* ip = out_ptr<int64_t>(idx, kMaxF, "indices");
  if (dt == DType::f32) {
    const float* xp = in_ptr<float>(x, kMaxF, "x");
    float* yp = out_ptr<float>(y, kMaxF, "out");
    py::gil_scoped_release nogil;
    pool::max_pool2d_forward<float>(s, xp, yp, ip);
  } else {
    const double* xp = in_ptr<double>(x, kMaxF, "x");
    double* yp = out_ptr<double>(y, kMaxF, "out");
    py::gil_scoped_release nogil;
    pool::max_pool2d_forward<double>(s, xp, yp, ip);
  }
}

void max_pool2d_backward(const py::array& dy, const py::array& idx, py::array& dx) {
  const DType dt = float_dtype(dy, kMaxB, "dy");
  require_dtype(dx, dt, kMaxB, "dx");
  require_index(idx, kMaxB, "indices");
  const pool::Shape s = planes(dx, dy, kMaxB, "dx", "dy");
  require_size(idx, dy.size(), kMaxB, "indices");
  const int64_t* ip = in_ptr<int64_t>(idx, kMaxB, "indices");
  bool ok;
  if (dt == DType::f32) {
    const float* gp = in_ptr<float>(dy, kMaxB, "dy");
    float* dp = out_ptr<float>(dx, kMaxB, "dx");
    py::gil_scoped_release nogil;
    ok = pool::max_pool2d_backward<float>(s, gp, ip, dp);
  } else {
    const double* gp = in_ptr<double>(dy, kMaxB, "dy");
    double* dp = out_ptr<double>(dx, kMaxB, "dx");
    py::gil_scoped_release nogil;
    ok = pool::max_pool2d_backward<double>(s, gp, ip, dp);
  }
  if (!ok)
    throw py::index_error(std::string(kMaxB) + ": indices must lie in [0, H*W) = [0, " +
                          std::to_string(s.H * s.W) + ") of each input plane");
}

void avg_pool2d_forward(const py::array& x, py::array& y, int64_t kh, int64_t kw, int64_t sh,
                        int64_t sw, int64_t ph, int64_t pw, bool count_include_pad,
                        int64_t divisor) {
  const DType dt = float_dtype(x, kAvgF, "x");
  require_dtype(y, dt, kAvgF, "out");
  pool::Shape s = planes(x, y, kAvgF, "x", "out");
  window(s, kh, kw, sh, sw, ph, pw, 1, 1, kAvgF);
  if (dt == DType::f32) {
    const float* xp = in_ptr<float>(x, kAvgF, "x");
    float* yp = out_ptr<float>(y, kAvgF, "out");
    py::gil_scoped_release nogil;
    pool::avg_pool2d_forward<float>(s, xp, yp, count_include_pad, divisor);
  } else {
    const double* xp = in_ptr<double>(x, kAvgF, "x");
    double* yp = out_ptr<double>(y, kAvgF, "out");
    py::gil_scoped_release nogil;
    pool::avg_pool2d_forward<double>(s, xp, yp, count_include_pad, divisor);
  }
}

void avg_pool2d_backward(const py::array& dy, py::array& dx, int64_t kh, int64_t kw, int64_t sh,
                         int64_t sw, int64_t ph, int64_t pw, bool count_include_pad,
                         int64_t divisor) {
  const DType dt = float_dtype(dy, kAvgB, "dy");
  require_dtype(dx, dt, kAvgB, "dx");
  pool::Shape s = planes(dx, dy, kAvgB, "dx", "dy");
  window(s, kh, kw, sh, sw, ph, pw, 1, 1, kAvgB);
  if (dt == DType::f32) {
    const float* gp = in_ptr<float>(dy, kAvgB, "dy");
    float* dp = out_ptr<float>(dx, kAvgB, "dx");
    py::gil_scoped_release nogil;
    pool::avg_pool2d_backward<float>(s, gp, dp, count_include_pad, divisor);
  } else {
    const double* gp = in_ptr<double>(dy, kAvgB, "dy");
    double* dp = out_ptr<double>(dx, kAvgB, "dx");
    py::gil_scoped_release nogil;
    pool::avg_pool2d_backward<double>(s, gp, dp, count_include_pad, divisor);
  }
}

void adaptive_forward(const py::array& x, py::array& y) {
  const DType dt = float_dtype(x, kAdaF, "x");
  require_dtype(y, dt, kAdaF, "out");
  const pool::Shape s = planes(x, y, kAdaF, "x", "out");
  if ((s.P == 0 || s.Q == 0) && s.H * s.W > 0)
    throw std::invalid_argument(std::string(kAdaF) + ": output size must be >= 1");
  if ((s.H == 0 || s.W == 0) && s.NC * s.P * s.Q > 0)
    throw std::invalid_argument(std::string(kAdaF) + ": input planes are empty (shape " +
                                shape_str(x) + ")");
  if (dt == DType::f32) {
    const float* xp = in_ptr<float>(x, kAdaF, "x");
    float* yp = out_ptr<float>(y, kAdaF, "out");
    py::gil_scoped_release nogil;
    pool::adaptive_avg_pool2d_forward<float>(s, xp, yp);
  } else {
    const double* xp = in_ptr<double>(x, kAdaF, "x");
    double* yp = out_ptr<double>(y, kAdaF, "out");
    py::gil_scoped_release nogil;
    pool::adaptive_avg_pool2d_forward<double>(s, xp, yp);
  }
}

void adaptive_backward(const py::array& dy, py::array& dx) {
  const DType dt = float_dtype(dy, kAdaB, "dy");
  require_dtype(dx, dt, kAdaB, "dx");
  const pool::Shape s = planes(dx, dy, kAdaB, "dx", "dy");
  if ((s.H == 0 || s.W == 0) && s.NC * s.P * s.Q > 0)
    throw std::invalid_argument(std::string(kAdaB) + ": input planes are empty");
  if (dt == DType::f32) {
    const float* gp = in_ptr<float>(dy, kAdaB, "dy");
    float* dp = out_ptr<float>(dx, kAdaB, "dx");
    py::gil_scoped_release nogil;
    pool::adaptive_avg_pool2d_backward<float>(s, gp, dp);
  } else {
    const double* gp = in_ptr<double>(dy, kAdaB, "dy");
    double* dp = out_ptr<double>(dx, kAdaB, "dx");
    py::gil_scoped_release nogil;
    pool::adaptive_avg_pool2d_backward<double>(s, gp, dp);
  }
}

}  // namespace

void bind_pool(py::module_& m, py::list& kernels) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("x"), py::arg("y"), py::arg("indices"),
        py::arg("kh"), py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("ph"), py::arg("pw"),
        py::arg("dh"), py::arg("dw"));
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("dy"), py::arg("indices"),
        py::arg("dx"));
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("x"), py::arg("y"), py::arg("kh"),
        py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("ph"), py::arg("pw"),
        py::arg("count_include_pad"), py::arg("divisor"));
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("dy"), py::arg("dx"), py::arg("kh"),
        py::arg("kw"), py::arg("sh"), py::arg("sw"), py::arg("ph"), py::arg("pw"),
        py::arg("count_include_pad"), py::arg("divisor"));
  m.def("adaptive_avg_pool2d_forward", &adaptive_forward, py::arg("x"), py::arg("y"));
  m.def("adaptive_avg_pool2d_backward", &adaptive_backward, py::arg("dy"), py::arg("dx"));
  for (const char* k : {"max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                        "avg_pool2d_backward", "adaptive_avg_pool2d_forward",
                        "adaptive_avg_pool2d_backward"})
    kernels.append(k);
}

}  // namespace bind
}  // namespace nervo
