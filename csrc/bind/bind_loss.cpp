// Bindings of the loss family: cross_entropy, nll_loss, pointwise_loss (forward and, when `grad`
// is given, the gradient in the same call).
#include "bind/optional.h"
#include "ops/loss/loss.h"

namespace nervo {
namespace bind {

namespace {

// IndexError naming the first target outside [0, C) that is not ignore_index.
void check_targets(const int64_t* t, int64_t R, int64_t C, int64_t ignore_index, const char* call) {
  for (int64_t i = 0; i < R; ++i)
    if (t[i] != ignore_index && (t[i] < 0 || t[i] >= C))
      throw py::index_error(std::string(call) + ": target " + std::to_string(t[i]) + " at position " +
                            std::to_string(i) + " is out of range for " + std::to_string(C) +
                            " classes (ignore_index=" + std::to_string(ignore_index) + ")");
}

int reduction_of(int r, const char* call) {
  if (r < 0 || r > 2) throw std::invalid_argument(std::string(call) + ": bad reduction code " + std::to_string(r));
  return r;
}

template <class T>
double ce_typed(const py::array& logits, const py::object& target, const py::object& probs,
                const py::object& weight, int64_t ignore_index, double ls, int reduction,
                const py::object& losses, const py::object& grad, double dscale,
                const py::object& drows, DType dt, const char* call) {
  if (logits.ndim() != 2) throw std::invalid_argument(std::string(call) + ": logits must be 2-D (R, C)");
  const int64_t R = logits.shape(0), C = logits.shape(1);
  loss::CrossEntropyArgs<T> a{};
  a.logits = in_ptr<T>(logits, call, "logits");
  if (!target.is_none()) {
    require_array(target, call, "target");
    py::array t = py::reinterpret_borrow<py::array>(target);
    require_size(t, R, call, "target");
    a.target = index_ptr(t, call, "target");
    check_targets(a.target, R, C, ignore_index, call);
  } else {
    a.probs = opt_in<T>(probs, dt, R * C, call, "target");
    if (!a.probs) throw std::invalid_argument(std::string(call) + ": give class indices or probabilities");
  }
  a.weight = opt_in<T>(weight, dt, C, call, "weight");
  a.R = R;
  a.C = C;
  a.ignore_index = ignore_index;
  a.label_smoothing = ls;
  a.reduction = reduction;
  a.losses = opt_out<T>(losses, dt, R, call, "losses");
  a.grad = opt_out<T>(grad, dt, R * C, call, "grad");
  a.dscale = dscale;
  a.drows = opt_in<T>(drows, dt, R, call, "drows");
  const loss::Kernels& k = loss::kernels();
  py::gil_scoped_release nogil;
  if constexpr (sizeof(T) == 4) return k.cross_entropy_f32(a);
  else return k.cross_entropy_f64(a);
}

double cross_entropy(const py::array& logits, const py::object& target, const py::object& probs,
                     const py::object& weight, int64_t ignore_index, double label_smoothing,
                     int reduction, const py::object& losses, const py::object& grad, double dscale,
                     const py::object& drows) {
  const char* call = "nervo.ops.cross_entropy";
  reduction_of(reduction, call);
  const DType dt = float_dtype(logits, call, "logits");
  if (dt == DType::f32)
    return ce_typed<float>(logits, target, probs, weight, ignore_index, label_smoothing, reduction,
                           losses, grad, dscale, drows, dt, call);
  return ce_typed<double>(logits, target, probs, weight, ignore_index, label_smoothing, reduction,
                          losses, grad, dscale, drows, dt, call);
}

template <class T>
double nll_typed(const py::array& logp, const py::array& target, const py::object& weight,
                 int64_t ignore_index, int reduction, const py::object& losses,
                 const py::object& grad, double dscale, const py::object& drows, DType dt,
                 const char* call) {
  if (logp.ndim() != 2) throw std::invalid_argument(std::string(call) + ": input must be 2-D (R, C)");
  const int64_t R = logp.shape(0), C = logp.shape(1);
  const T* lp = in_ptr<T>(logp, call, "input");
  require_size(target, R, call, "target");
  const int64_t* t = index_ptr(target, call, "target");
  check_targets(t, R, C, ignore_index, call);
  const T* w = opt_in<T>(weight, dt, C, call, "weight");
  T* l = opt_out<T>(losses, dt, R, call, "losses");
  T* g = opt_out<T>(grad, dt, R * C, call, "grad");
  const T* dr = opt_in<T>(drows, dt, R, call, "drows");
  py::gil_scoped_release nogil;
  return loss::nll<T>(lp, t, w, R, C, ignore_index, reduction, l, g, dscale, dr);
}

double nll_loss(const py::array& logp, const py::array& target, const py::object& weight,
                int64_t ignore_index, int reduction, const py::object& losses,
                const py::object& grad, double dscale, const py::object& drows) {
  const char* call = "nervo.ops.nll_loss";
  reduction_of(reduction, call);
  const DType dt = float_dtype(logp, call, "input");
  if (dt == DType::f32)
    return nll_typed<float>(logp, target, weight, ignore_index, reduction, losses, grad, dscale, drows, dt, call);
  return nll_typed<double>(logp, target, weight, ignore_index, reduction, losses, grad, dscale, drows, dt, call);
}

template <class T>
double pw_typed(loss::Pointwise op, const py::array& x, const py::array& y, const py::object& w,
                const py::object& pw, double a, const py::object& losses, const py::object& grad,
                double dscale, const py::object& drows, DType dt, const char* call) {
  const int64_t n = x.size();
  require_dtype(y, dt, call, "target");
  require_size(y, n, call, "target");
  const T* xp = in_ptr<T>(x, call, "input");
  const T* yp = in_ptr<T>(y, call, "target");
  const T* wp = opt_in<T>(w, dt, n, call, "weight");
  const T* pwp = opt_in<T>(pw, dt, n, call, "pos_weight");
  T* l = opt_out<T>(losses, dt, n, call, "losses");
  T* g = opt_out<T>(grad, dt, n, call, "grad");
  const T* dr = opt_in<T>(drows, dt, n, call, "drows");
  py::gil_scoped_release nogil;
  return loss::pointwise<T>(op, xp, yp, wp, pwp, n, a, l, g, dscale, dr);
}

double pointwise_loss(int op_id, const py::array& x, const py::array& y, const py::object& w,
                      const py::object& pw, double a, const py::object& losses,
                      const py::object& grad, double dscale, const py::object& drows) {
  const char* call = "nervo.ops loss";
  if (op_id < 0 || op_id >= loss::kNumPointwise)
    throw std::invalid_argument(std::string(call) + ": unknown loss id " + std::to_string(op_id));
  const auto op = static_cast<loss::Pointwise>(op_id);
  const DType dt = float_dtype(x, call, "input");
  if (dt == DType::f32) return pw_typed<float>(op, x, y, w, pw, a, losses, grad, dscale, drows, dt, call);
  return pw_typed<double>(op, x, y, w, pw, a, losses, grad, dscale, drows, dt, call);
}

}  // namespace

void bind_loss(py::module_& m, py::list& kernels) {
  m.def("cross_entropy", &cross_entropy, py::arg("logits"), py::arg("target"), py::arg("probs"),
        py::arg("weight"), py::arg("ignore_index"), py::arg("label_smoothing"), py::arg("reduction"),
        py::arg("losses"), py::arg("grad"), py::arg("dscale"), py::arg("drows"));
  m.def("nll_loss", &nll_loss, py::arg("logp"), py::arg("target"), py::arg("weight"),
        py::arg("ignore_index"), py::arg("reduction"), py::arg("losses"), py::arg("grad"),
        py::arg("dscale"), py::arg("drows"));
  m.def("pointwise_loss", &pointwise_loss, py::arg("op"), py::arg("x"), py::arg("y"), py::arg("w"),
        py::arg("pw"), py::arg("a"), py::arg("losses"), py::arg("grad"), py::arg("dscale"),
        py::arg("drows"));
  kernels.append("cross_entropy");
  kernels.append("nll_loss");
  kernels.append("pointwise_loss");
}

}  // namespace bind
}  // namespace nervo
