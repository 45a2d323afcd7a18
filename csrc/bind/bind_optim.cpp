// Bindings of the optimizer family: sgd_step, adam_step, rmsprop_step, adagrad_step (in place),
// grads_norm / grads_scale over a list of arrays (global gradient-norm clipping).
#include <vector>

#include "bind/optional.h"
#include "ops/optim/optim.h"

namespace nervo {
namespace bind {

namespace {

struct Common {
  DType dt;
  int64_t n;
};

Common param_grad(py::array& param, const py::array& grad, const char* call) {
  const DType dt = float_dtype(param, call, "param");
  require_dtype(grad, dt, call, "grad");
  require_size(grad, param.size(), call, "grad");
  require_contiguous(param, call, "param");
  require_writable(param, call, "param");
  require_contiguous(grad, call, "grad");
  return {dt, static_cast<int64_t>(param.size())};
}

template <class T>
const optim::Kernels1<T>& table() {
  if constexpr (sizeof(T) == 4) return optim::kernels().f32;
  else return optim::kernels().f64;
}

template <class T>
void sgd_typed(py::array& param, const py::array& grad, const py::object& buf, double lr,
               double momentum, double dampening, double wd, bool nesterov, bool maximize,
               bool first, Common c, const char* call) {
  optim::SgdArgs<T> a{};
  a.param = out_ptr<T>(param, call, "param");
  a.grad = in_ptr<T>(grad, call, "grad");
  a.buf = opt_out<T>(buf, c.dt, c.n, call, "momentum_buffer");
  if (momentum != 0.0 && !a.buf)
    throw std::invalid_argument(std::string(call) + ": momentum != 0 needs a momentum_buffer");
  if (momentum == 0.0) a.buf = nullptr;
  a.n = c.n;
  a.lr = lr; a.momentum = momentum; a.dampening = dampening; a.weight_decay = wd;
  a.nesterov = nesterov; a.maximize = maximize; a.first_step = first;
  py::gil_scoped_release nogil;
  table<T>().sgd(a);
}

void sgd_step(py::array& param, const py::array& grad, const py::object& buf, double lr,
              double momentum, double dampening, double wd, bool nesterov, bool maximize,
              bool first) {
  const char* call = "nervo.ops.sgd_step";
  const Common c = param_grad(param, grad, call);
  if (c.dt == DType::f32) sgd_typed<float>(param, grad, buf, lr, momentum, dampening, wd, nesterov, maximize, first, c, call);
  else sgd_typed<double>(param, grad, buf, lr, momentum, dampening, wd, nesterov, maximize, first, c, call);
}

template <class T>
void adam_typed(py::array& param, const py::array& grad, py::array& m, py::array& v,
                const py::object& vmax, int64_t step, double lr, double b1, double b2, double eps,
                double wd, bool decoupled, bool maximize, Common c, const char* call) {
  optim::AdamArgs<T> a{};
  a.param = out_ptr<T>(param, call, "param");
  a.grad = in_ptr<T>(grad, call, "grad");
  a.exp_avg = opt_out<T>(m, c.dt, c.n, call, "exp_avg");
  a.exp_avg_sq = opt_out<T>(v, c.dt, c.n, call, "exp_avg_sq");
  a.max_exp_avg_sq = opt_out<T>(vmax, c.dt, c.n, call, "max_exp_avg_sq");
  a.n = c.n; a.step = step;
  a.lr = lr; a.beta1 = b1; a.beta2 = b2; a.eps = eps; a.weight_decay = wd;
  a.decoupled = decoupled; a.maximize = maximize;
  py::gil_scoped_release nogil;
  table<T>().adam(a);
}

void adam_step(py::array& param, const py::array& grad, py::array& m, py::array& v,
               const py::object& vmax, int64_t step, double lr, double b1, double b2, double eps,
               double wd, bool decoupled, bool maximize) {
  const char* call = "nervo.ops.adam_step";
  const Common c = param_grad(param, grad, call);
  if (step < 1) throw std::invalid_argument(std::string(call) + ": step must be >= 1, got " + std::to_string(step));
  if (c.dt == DType::f32) adam_typed<float>(param, grad, m, v, vmax, step, lr, b1, b2, eps, wd, decoupled, maximize, c, call);
  else adam_typed<double>(param, grad, m, v, vmax, step, lr, b1, b2, eps, wd, decoupled, maximize, c, call);
}

template <class T>
void rmsprop_typed(py::array& param, const py::array& grad, py::array& sq, const py::object& ga,
                   const py::object& buf, double lr, double alpha, double eps, double wd,
                   double momentum, bool maximize, Common c, const char* call) {
  optim::RmspropArgs<T> a{};
  a.param = out_ptr<T>(param, call, "param");
  a.grad = in_ptr<T>(grad, call, "grad");
  a.square_avg = opt_out<T>(sq, c.dt, c.n, call, "square_avg");
  a.grad_avg = opt_out<T>(ga, c.dt, c.n, call, "grad_avg");
  a.momentum_buf = momentum > 0 ? opt_out<T>(buf, c.dt, c.n, call, "momentum_buffer") : nullptr;
  if (momentum > 0 && !a.momentum_buf)
    throw std::invalid_argument(std::string(call) + ": momentum > 0 needs a momentum_buffer");
  a.n = c.n;
  a.lr = lr; a.alpha = alpha; a.eps = eps; a.weight_decay = wd; a.momentum = momentum;
  a.maximize = maximize;
  py::gil_scoped_release nogil;
  table<T>().rmsprop(a);
}

void rmsprop_step(py::array& param, const py::array& grad, py::array& sq, const py::object& ga,
                  const py::object& buf, double lr, double alpha, double eps, double wd,
                  double momentum, bool maximize) {
  const char* call = "nervo.ops.rmsprop_step";
  const Common c = param_grad(param, grad, call);
  if (c.dt == DType::f32) rmsprop_typed<float>(param, grad, sq, ga, buf, lr, alpha, eps, wd, momentum, maximize, c, call);
  else rmsprop_typed<double>(param, grad, sq, ga, buf, lr, alpha, eps, wd, momentum, maximize, c, call);
}

template <class T>
void adagrad_typed(py::array& param, const py::array& grad, py::array& ss, int64_t step, double lr,
                   double lr_decay, double wd, double eps, bool maximize, Common c, const char* call) {
  optim::AdagradArgs<T> a{};
  a.param = out_ptr<T>(param, call, "param");
  a.grad = in_ptr<T>(grad, call, "grad");
  a.state_sum = opt_out<T>(ss, c.dt, c.n, call, "state_sum");
  a.n = c.n; a.step = step;
  a.lr = lr; a.lr_decay = lr_decay; a.weight_decay = wd; a.eps = eps; a.maximize = maximize;
  py::gil_scoped_release nogil;
  table<T>().adagrad(a);
}

void adagrad_step(py::array& param, const py::array& grad, py::array& ss, int64_t step, double lr,
                  double lr_decay, double wd, double eps, bool maximize) {
  const char* call = "nervo.ops.adagrad_step";
  const Common c = param_grad(param, grad, call);
  if (step < 1) throw std::invalid_argument(std::string(call) + ": step must be >= 1, got " + std::to_string(step));
  if (c.dt == DType::f32) adagrad_typed<float>(param, grad, ss, step, lr, lr_decay, wd, eps, maximize, c, call);
  else adagrad_typed<double>(param, grad, ss, step, lr, lr_decay, wd, eps, maximize, c, call);
}

struct Item {
  DType dt;
  void* ptr;
  int64_t n;
};

std::vector<Item> items_of(const py::list& arrays, bool writable, const char* call) {
  std::vector<Item> items;
  items.reserve(arrays.size());
  for (py::handle h : arrays) {
    py::object o = py::reinterpret_borrow<py::object>(h);
    require_array(o, call, "grads[i]");
    py::array a = py::reinterpret_borrow<py::array>(o);
    const DType dt = float_dtype(a, call, "grads[i]");
    require_contiguous(a, call, "grads[i]");
    if (writable) require_writable(a, call, "grads[i]");
    items.push_back({dt, const_cast<void*>(a.data()), static_cast<int64_t>(a.size())});
  }
  return items;
}

// Sum of |x|^p over every array (max |x| for p = inf), accumulated in double.
double grads_norm(const py::list& arrays, double p) {
  const char* call = "nervo.ops.grad_norm";
  const std::vector<Item> items = items_of(arrays, false, call);
  py::gil_scoped_release nogil;
  const bool inf = std::isinf(p);
  double total = 0.0;
  for (const Item& it : items) {
    const double s = it.dt == DType::f32
                         ? optim::kernels().f32.norm_accum(static_cast<const float*>(it.ptr), it.n, p)
                         : optim::kernels().f64.norm_accum(static_cast<const double*>(it.ptr), it.n, p);
    if (inf) total = (s > total || s != s) ? s : total;
    else total += s;
  }
  return total;
}

void grads_scale(const py::list& arrays, double s) {
  const char* call = "nervo.ops.clip_grad_norm";
  const std::vector<Item> items = items_of(arrays, true, call);
  py::gil_scoped_release nogil;
  for (const Item& it : items) {
    if (it.dt == DType::f32) optim::kernels().f32.scale(static_cast<float*>(it.ptr), it.n, s);
    else optim::kernels().f64.scale(static_cast<double*>(it.ptr), it.n, s);
  }
}

}  // namespace

void bind_optim(py::module_& m, py::list& kernels) {
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"),
        py::arg("lr"), py::arg("momentum"), py::arg("dampening"), py::arg("weight_decay"),
        py::arg("nesterov"), py::arg("maximize"), py::arg("first_step"));
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("grad"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::arg("max_exp_avg_sq"), py::arg("step"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
        py::arg("decoupled"), py::arg("maximize"));
  m.def("rmsprop_step", &rmsprop_step, py::arg("param"), py::arg("grad"), py::arg("square_avg"),
        py::arg("grad_avg"), py::arg("momentum_buffer"), py::arg("lr"), py::arg("alpha"),
        py::arg("eps"), py::arg("weight_decay"), py::arg("momentum"), py::arg("maximize"));
  m.def("adagrad_step", &adagrad_step, py::arg("param"), py::arg("grad"), py::arg("state_sum"),
        py::arg("step"), py::arg("lr"), py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"),
        py::arg("maximize"));
  m.def("grads_norm", &grads_norm, py::arg("arrays"), py::arg("p"));
  m.def("grads_scale", &grads_scale, py::arg("arrays"), py::arg("s"));
  for (const char* k : {"sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "grads_norm", "grads_scale"})
    kernels.append(k);
}

}  // namespace bind
}  // namespace nervo
