// Bindings of the softmax family: softmax_forward / softmax_backward over an (outer, C, inner) view.
#include "bind/common.h"
#include "ops/softmax/softmax.h"

namespace nervo {
namespace bind {

namespace {

softmax::Shape shape_of(const py::array& a, int64_t outer, int64_t C, int64_t inner, const char* call) {
  if (outer < 0 || C < 0 || inner < 0)
    throw std::invalid_argument(std::string(call) + ": negative size");
  if (a.size() != outer * C * inner)
    throw std::invalid_argument(std::string(call) + ": x has " + std::to_string(a.size()) +
                                " elements, expected outer*C*inner = " +
                                std::to_string(outer * C * inner));
  return {outer, C, inner};
}

// softmax_forward(x, out, outer, C, inner, log): out = (log_)softmax over C of x viewed (outer, C, inner).
void softmax_forward(const py::array& x, py::array& out, int64_t outer, int64_t C, int64_t inner,
                     bool log) {
  const char* call = log ? "nervo.ops.log_softmax" : "nervo.ops.softmax";
  const DType dt = float_dtype(x, call, "x");
  require_dtype(out, dt, call, "out");
  require_size(out, x.size(), call, "out");
  const softmax::Shape s = shape_of(x, outer, C, inner, call);
  const softmax::Kernels& k = softmax::kernels();
  if (dt == DType::f32) {
    const float* xp = in_ptr<float>(x, call, "x");
    float* yp = out_ptr<float>(out, call, "out");
    py::gil_scoped_release nogil;
    k.forward_f32(xp, yp, s, log);
  } else {
    const double* xp = in_ptr<double>(x, call, "x");
    double* yp = out_ptr<double>(out, call, "out");
    py::gil_scoped_release nogil;
    k.forward_f64(xp, yp, s, log);
  }
}

// softmax_backward(y, dy, dx, outer, C, inner, log): gradient from the forward output y.
void softmax_backward(const py::array& y, const py::array& dy, py::array& dx, int64_t outer,
                      int64_t C, int64_t inner, bool log) {
  const char* call = log ? "nervo.ops.log_softmax_backward" : "nervo.ops.softmax_backward";
  const DType dt = float_dtype(dy, call, "dy");
  require_dtype(y, dt, call, "y");
  require_dtype(dx, dt, call, "out");
  require_size(y, dy.size(), call, "y");
  require_size(dx, dy.size(), call, "out");
  const softmax::Shape s = shape_of(dy, outer, C, inner, call);
  const softmax::Kernels& k = softmax::kernels();
  if (dt == DType::f32) {
    const float* yp = in_ptr<float>(y, call, "y");
    const float* gp = in_ptr<float>(dy, call, "dy");
    float* dp = out_ptr<float>(dx, call, "out");
    py::gil_scoped_release nogil;
    k.backward_f32(yp, gp, dp, s, log);
  } else {
    const double* yp = in_ptr<double>(y, call, "y");
    const double* gp = in_ptr<double>(dy, call, "dy");
    double* dp = out_ptr<double>(dx, call, "out");
    py::gil_scoped_release nogil;
    k.backward_f64(yp, gp, dp, s, log);
  }
}

}  // namespace

void bind_softmax(py::module_& m, py::list& kernels) {
  m.def("softmax_forward", &softmax_forward, py::arg("x"), py::arg("out"), py::arg("outer"),
        py::arg("C"), py::arg("inner"), py::arg("log"));
  m.def("softmax_backward", &softmax_backward, py::arg("y"), py::arg("dy"), py::arg("dx"),
        py::arg("outer"), py::arg("C"), py::arg("inner"), py::arg("log"));
  kernels.append("softmax_forward");
  kernels.append("softmax_backward");
}

}  // namespace bind
}  // namespace nervo
