// Bindings of the dropout family: dropout_apply (forward with in = x, backward with in = dy).
#include "bind/optional.h"
#include "ops/dropout/dropout.h"

namespace nervo {
namespace bind {

namespace {

void dropout_apply(const py::array& x, py::array& out, double p, uint64_t seed, uint64_t offset) {
  const char* call = "nervo.ops.dropout";
  if (!(p >= 0.0 && p < 1.0))
    throw std::invalid_argument(std::string(call) + ": p must be in [0, 1), got " + std::to_string(p));
  const DType dt = float_dtype(x, call, "x");
  require_dtype(out, dt, call, "out");
  require_size(out, x.size(), call, "out");
  const int64_t n = x.size();
  const dropout::Kernels& k = dropout::kernels();
  if (dt == DType::f32) {
    const float* xp = in_ptr<float>(x, call, "x");
    float* yp = out_ptr<float>(out, call, "out");
    py::gil_scoped_release nogil;
    k.apply_f32(xp, yp, n, p, seed, offset);
  } else {
    const double* xp = in_ptr<double>(x, call, "x");
    double* yp = out_ptr<double>(out, call, "out");
    py::gil_scoped_release nogil;
    k.apply_f64(xp, yp, n, p, seed, offset);
  }
}

}  // namespace

void bind_dropout(py::module_& m, py::list& kernels) {
  m.def("dropout_apply", &dropout_apply, py::arg("x"), py::arg("out"), py::arg("p"), py::arg("seed"),
        py::arg("offset"));
  kernels.append("dropout_apply");
}

}  // namespace bind
}  // namespace nervo
