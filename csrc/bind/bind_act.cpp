// Bindings of the activation family: act_forward / act_backward.
#include "bind/common.h"
#include "ops/act/act.h"

namespace nervo {
namespace bind {

namespace {

act::Op to_op(int op, const char* call) {
  if (op < 0 || op >= act::kNumOps)
    throw std::invalid_argument(std::string(call) + ": unknown activation id " + std::to_string(op));
  return static_cast<act::Op>(op);
}

// act_forward(op, x, out, a, b): out = f(x), elementwise; x and out contiguous, same dtype and size.
void act_forward(int op_id, const py::array& x, py::array& out, double a, double b) {
  const char* call = "nervo.ops activation";
  const act::Op op = to_op(op_id, call);
  const DType dt = float_dtype(x, call, "x");
  require_dtype(out, dt, call, "out");
  require_size(out, x.size(), call, "out");
  const int64_t n = x.size();
  const act::Params p{a, b};
  const act::Kernels& k = act::kernels();
  if (dt == DType::f32) {
    const float* xp = in_ptr<float>(x, call, "x");
    float* yp = out_ptr<float>(out, call, "out");
    py::gil_scoped_release nogil;
    k.forward_f32(op, xp, yp, n, p);
  } else {
    const double* xp = in_ptr<double>(x, call, "x");
    double* yp = out_ptr<double>(out, call, "out");
    py::gil_scoped_release nogil;
    k.forward_f64(op, xp, yp, n, p);
  }
}

// act_backward(op, saved, dy, dx, a, b): dx = f'(saved) * dy.
void act_backward(int op_id, const py::array& saved, const py::array& dy, py::array& dx, double a,
                  double b) {
  const char* call = "nervo.ops activation backward";
  const act::Op op = to_op(op_id, call);
  const DType dt = float_dtype(dy, call, "grad");
  require_dtype(saved, dt, call, "saved input/output");
  require_dtype(dx, dt, call, "out");
  require_size(saved, dy.size(), call, "saved input/output");
  require_size(dx, dy.size(), call, "out");
  const int64_t n = dy.size();
  const act::Params p{a, b};
  const act::Kernels& k = act::kernels();
  if (dt == DType::f32) {
    const float* sp = in_ptr<float>(saved, call, "saved input/output");
    const float* gp = in_ptr<float>(dy, call, "grad");
    float* dp = out_ptr<float>(dx, call, "out");
    py::gil_scoped_release nogil;
    k.backward_f32(op, sp, gp, dp, n, p);
  } else {
    const double* sp = in_ptr<double>(saved, call, "saved input/output");
    const double* gp = in_ptr<double>(dy, call, "grad");
    double* dp = out_ptr<double>(dx, call, "out");
    py::gil_scoped_release nogil;
    k.backward_f64(op, sp, gp, dp, n, p);
  }
}

// vmath_eval(name, x, out): one core/vmath.h function elementwise on float32 at the current ISA
// level. A test hook (tests/ops/test_vmath.py), not a kernel: it is not in _C.KERNELS.
void vmath_eval(const std::string& name, const py::array& x, py::array& out) {
  const char* call = "nervo._C.vmath_eval";
  static const char* names[act::kNumVmath] = {"exp", "expm1", "log", "log1p", "tanh", "sigmoid",
                                              "erf", "erf_rational", "erfc_pos"};
  int fn = -1;
  for (int i = 0; i < act::kNumVmath; ++i)
    if (name == names[i]) fn = i;
  if (fn < 0) throw std::invalid_argument(std::string(call) + ": unknown function " + name);
  require_dtype(x, DType::f32, call, "x");
  require_dtype(out, DType::f32, call, "out");
  require_size(out, x.size(), call, "out");
  const float* xp = in_ptr<float>(x, call, "x");
  float* yp = out_ptr<float>(out, call, "out");
  const act::Kernels& k = act::kernels();
  py::gil_scoped_release nogil;
  k.vmath_f32(static_cast<act::Vmath>(fn), xp, yp, x.size());
}

}  // namespace

void bind_act(py::module_& m, py::list& kernels) {
  m.def("act_forward", &act_forward, py::arg("op"), py::arg("x"), py::arg("out"), py::arg("a"),
        py::arg("b"));
  m.def("act_backward", &act_backward, py::arg("op"), py::arg("saved"), py::arg("dy"),
        py::arg("dx"), py::arg("a"), py::arg("b"));
  m.def("vmath_eval", &vmath_eval, py::arg("name"), py::arg("x"), py::arg("out"));
  kernels.append("act_forward");
  kernels.append("act_backward");
}

}  // namespace bind
}  // namespace nervo
