// Bindings of the normalization family (see ops/norm/norm.h). Optional arrays (weight, bias and
// the gradients not asked for) are None.
#include "bind/common.h"
#include "ops/norm/norm.h"

#include <optional>

namespace nervo {
namespace bind {

namespace {

constexpr const char* kBnF = "nervo.ops.batch_norm";
constexpr const char* kBnB = "nervo.ops.batch_norm_backward";
constexpr const char* kLnF = "nervo.ops.layer_norm";
constexpr const char* kLnB = "nervo.ops.layer_norm_backward";
constexpr const char* kGnF = "nervo.ops.group_norm";
constexpr const char* kGnB = "nervo.ops.group_norm_backward";

std::optional<py::array> opt(const py::object& o, DType dt, py::ssize_t n, const char* call,
                             const char* arg) {
  if (o.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(call) + ": " + arg + " must be a numpy.ndarray or None");
  py::array a = py::reinterpret_borrow<py::array>(o);
  require_dtype(a, dt, call, arg);
  require_size(a, n, call, arg);
  return a;
}

template <class T>
const T* cptr(const std::optional<py::array>& a, const char* call, const char* arg) {
  return a ? in_ptr<T>(*a, call, arg) : nullptr;
}
template <class T>
T* mptr(std::optional<py::array>& a, const char* call, const char* arg) {
  return a ? out_ptr<T>(*a, call, arg) : nullptr;
}

// (N, C, L) of an (N, C, ...) array.
void ncl(const py::array& x, int64_t& N, int64_t& C, int64_t& L, const char* call) {
  if (x.ndim() < 2)
    throw std::invalid_argument(std::string(call) + ": x must have shape (N, C, ...), got " +
                                shape_str(x));
  N = x.shape(0);
  C = x.shape(1);
  L = 1;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) L *= x.shape(i);
}

template <class T>
void bn_fwd(int64_t N, int64_t C, int64_t L, const py::array& x, const std::optional<py::array>& w,
            const std::optional<py::array>& b, std::optional<py::array>& rm,
            std::optional<py::array>& rv, py::array& mean, py::array& rstd, py::array& y,
            double momentum, double eps, bool batch_stats) {
  const T* xp = in_ptr<T>(x, kBnF, "x");
  const T* wp = cptr<T>(w, kBnF, "weight");
  const T* bp = cptr<T>(b, kBnF, "bias");
  T* rmp = mptr<T>(rm, kBnF, "running_mean");
  T* rvp = mptr<T>(rv, kBnF, "running_var");
  T* mp = out_ptr<T>(mean, kBnF, "mean");
  T* rp = out_ptr<T>(rstd, kBnF, "rstd");
  T* yp = out_ptr<T>(y, kBnF, "out");
  py::gil_scoped_release nogil;
  norm::batch_norm_forward<T>(N, C, L, xp, wp, bp, rmp, rvp, mp, rp, yp, momentum, eps,
                              batch_stats);
}

void batch_norm_forward(const py::array& x, const py::object& w_o, const py::object& b_o,
                        const py::object& rm_o, const py::object& rv_o, py::array& mean,
                        py::array& rstd, py::array& y, double momentum, double eps,
                        bool batch_stats) {
  const DType dt = float_dtype(x, kBnF, "x");
  int64_t N, C, L;
  ncl(x, N, C, L, kBnF);
  auto w = opt(w_o, dt, C, kBnF, "weight");
  auto b = opt(b_o, dt, C, kBnF, "bias");
  auto rm = opt(rm_o, dt, C, kBnF, "running_mean");
  auto rv = opt(rv_o, dt, C, kBnF, "running_var");
  if (rm.has_value() != rv.has_value())
    throw std::invalid_argument(std::string(kBnF) +
                                ": running_mean and running_var must both be given or both None");
  if (!batch_stats && !rm)
    throw std::invalid_argument(std::string(kBnF) + ": running statistics are needed in eval mode");
  for (auto* a : {&mean, &rstd}) require_dtype(*a, dt, kBnF, "mean/rstd");
  require_size(mean, C, kBnF, "mean");
  require_size(rstd, C, kBnF, "rstd");
  require_dtype(y, dt, kBnF, "out");
  require_size(y, x.size(), kBnF, "out");
  if (dt == DType::f32)
    bn_fwd<float>(N, C, L, x, w, b, rm, rv, mean, rstd, y, momentum, eps, batch_stats);
  else
    bn_fwd<double>(N, C, L, x, w, b, rm, rv, mean, rstd, y, momentum, eps, batch_stats);
}

template <class T>
void bn_bwd(int64_t N, int64_t C, int64_t L, const py::array& dy, const py::array& x,
            const py::array& mean, const py::array& rstd, const std::optional<py::array>& w,
            std::optional<py::array>& dx, std::optional<py::array>& dw,
            std::optional<py::array>& db, bool batch_stats) {
  const T* gp = in_ptr<T>(dy, kBnB, "dy");
  const T* xp = in_ptr<T>(x, kBnB, "x");
  const T* mp = in_ptr<T>(mean, kBnB, "mean");
  const T* rp = in_ptr<T>(rstd, kBnB, "rstd");
  const T* wp = cptr<T>(w, kBnB, "weight");
  T* dxp = mptr<T>(dx, kBnB, "dx");
  T* dwp = mptr<T>(dw, kBnB, "dweight");
  T* dbp = mptr<T>(db, kBnB, "dbias");
  py::gil_scoped_release nogil;
  norm::batch_norm_backward<T>(N, C, L, gp, xp, mp, rp, wp, dxp, dwp, dbp, batch_stats);
}

void batch_norm_backward(const py::array& dy, const py::array& x, const py::array& mean,
                         const py::array& rstd, const py::object& w_o, const py::object& dx_o,
                         const py::object& dw_o, const py::object& db_o, bool batch_stats) {
  const DType dt = float_dtype(dy, kBnB, "dy");
  require_dtype(x, dt, kBnB, "x");
  int64_t N, C, L;
  ncl(x, N, C, L, kBnB);
  require_size(dy, x.size(), kBnB, "dy");
  require_dtype(mean, dt, kBnB, "mean");
  require_dtype(rstd, dt, kBnB, "rstd");
  require_size(mean, C, kBnB, "mean");
  require_size(rstd, C, kBnB, "rstd");
  auto w = opt(w_o, dt, C, kBnB, "weight");
  auto dx = opt(dx_o, dt, x.size(), kBnB, "dx");
  auto dw = opt(dw_o, dt, C, kBnB, "dweight");
  auto db = opt(db_o, dt, C, kBnB, "dbias");
  if (dt == DType::f32)
    bn_bwd<float>(N, C, L, dy, x, mean, rstd, w, dx, dw, db, batch_stats);
  else
    bn_bwd<double>(N, C, L, dy, x, mean, rstd, w, dx, dw, db, batch_stats);
}

template <class T>
void ln_fwd(int64_t M, int64_t D, const py::array& x, const std::optional<py::array>& w,
            const std::optional<py::array>& b, py::array& mean, py::array& rstd, py::array& y,
            double eps) {
  const T* xp = in_ptr<T>(x, kLnF, "x");
  const T* wp = cptr<T>(w, kLnF, "weight");
  const T* bp = cptr<T>(b, kLnF, "bias");
  T* mp = out_ptr<T>(mean, kLnF, "mean");
  T* rp = out_ptr<T>(rstd, kLnF, "rstd");
  T* yp = out_ptr<T>(y, kLnF, "out");
  py::gil_scoped_release nogil;
  norm::layer_norm_forward<T>(M, D, xp, wp, bp, mp, rp, yp, eps);
}

void rows(const py::array& x, const py::array& mean, int64_t D, int64_t& M, const char* call) {
  if (D < 0) throw std::invalid_argument(std::string(call) + ": D must be >= 0");
  M = mean.size();
  if (M * D != x.size())
    throw std::invalid_argument(std::string(call) + ": x has " + std::to_string(x.size()) +
                                " elements, expected rows * D = " + std::to_string(M) + " * " +
                                std::to_string(D));
}

void layer_norm_forward(const py::array& x, const py::object& w_o, const py::object& b_o,
                        py::array& mean, py::array& rstd, py::array& y, int64_t D, double eps) {
  const DType dt = float_dtype(x, kLnF, "x");
  require_dtype(mean, dt, kLnF, "mean");
  require_dtype(rstd, dt, kLnF, "rstd");
  require_dtype(y, dt, kLnF, "out");
  int64_t M;
  rows(x, mean, D, M, kLnF);
  require_size(rstd, M, kLnF, "rstd");
  require_size(y, x.size(), kLnF, "out");
  auto w = opt(w_o, dt, D, kLnF, "weight");
  auto b = opt(b_o, dt, D, kLnF, "bias");
  if (dt == DType::f32)
    ln_fwd<float>(M, D, x, w, b, mean, rstd, y, eps);
  else
    ln_fwd<double>(M, D, x, w, b, mean, rstd, y, eps);
}

template <class T>
void ln_bwd(int64_t M, int64_t D, const py::array& dy, const py::array& x, const py::array& mean,
            const py::array& rstd, const std::optional<py::array>& w, std::optional<py::array>& dx,
            std::optional<py::array>& dw, std::optional<py::array>& db) {
  const T* gp = in_ptr<T>(dy, kLnB, "dy");
  const T* xp = in_ptr<T>(x, kLnB, "x");
  const T* mp = in_ptr<T>(mean, kLnB, "mean");
  const T* rp = in_ptr<T>(rstd, kLnB, "rstd");
  const T* wp = cptr<T>(w, kLnB, "weight");
  T* dxp = mptr<T>(dx, kLnB, "dx");
  T* dwp = mptr<T>(dw, kLnB, "dweight");
  T* dbp = mptr<T>(db, kLnB, "dbias");
  py::gil_scoped_release nogil;
  norm::layer_norm_backward<T>(M, D, gp, xp, mp, rp, wp, dxp, dwp, dbp);
}

void layer_norm_backward(const py::array& dy, const py::array& x, const py::array& mean,
                         const py::array& rstd, const py::object& w_o, const py::object& dx_o,
                         const py::object& dw_o, const py::object& db_o, int64_t D) {
  const DType dt = float_dtype(dy, kLnB, "dy");
  require_dtype(x, dt, kLnB, "x");
  require_dtype(mean, dt, kLnB, "mean");
  require_dtype(rstd, dt, kLnB, "rstd");
  int64_t M;
  rows(x, mean, D, M, kLnB);
  require_size(dy, x.size(), kLnB, "dy");
  require_size(rstd, M, kLnB, "rstd");
  auto w = opt(w_o, dt, D, kLnB, "weight");
  auto dx = opt(dx_o, dt, x.size(), kLnB, "dx");
  auto dw = opt(dw_o, dt, D, kLnB, "dweight");
  auto db = opt(db_o, dt, D, kLnB, "dbias");
  if (dt == DType::f32)
    ln_bwd<float>(M, D, dy, x, mean, rstd, w, dx, dw, db);
  else
    ln_bwd<double>(M, D, dy, x, mean, rstd, w, dx, dw, db);
}

template <class T>
void gn_fwd(int64_t N, int64_t C, int64_t L, int64_t G, const py::array& x,
            const std::optional<py::array>& w, const std::optional<py::array>& b, py::array& mean,
            py::array& rstd, py::array& y, double eps) {
  const T* xp = in_ptr<T>(x, kGnF, "x");
  const T* wp = cptr<T>(w, kGnF, "weight");
  const T* bp = cptr<T>(b, kGnF, "bias");
  T* mp = out_ptr<T>(mean, kGnF, "mean");
  T* rp = out_ptr<T>(rstd, kGnF, "rstd");
  T* yp = out_ptr<T>(y, kGnF, "out");
  py::gil_scoped_release nogil;
  norm::group_norm_forward<T>(N, C, L, G, xp, wp, bp, mp, rp, yp, eps);
}

void groups_ok(int64_t C, int64_t G, const char* call) {
  if (G < 1 || C % G)
    throw std::invalid_argument(std::string(call) + ": num_groups=" + std::to_string(G) +
                                " must be >= 1 and divide the " + std::to_string(C) + " channels");
}

void group_norm_forward(const py::array& x, const py::object& w_o, const py::object& b_o,
                        py::array& mean, py::array& rstd, py::array& y, int64_t G, double eps) {
  const DType dt = float_dtype(x, kGnF, "x");
  int64_t N, C, L;
  ncl(x, N, C, L, kGnF);
  groups_ok(C, G, kGnF);
  require_dtype(mean, dt, kGnF, "mean");
  require_dtype(rstd, dt, kGnF, "rstd");
  require_dtype(y, dt, kGnF, "out");
  require_size(mean, N * G, kGnF, "mean");
  require_size(rstd, N * G, kGnF, "rstd");
  require_size(y, x.size(), kGnF, "out");
  auto w = opt(w_o, dt, C, kGnF, "weight");
  auto b = opt(b_o, dt, C, kGnF, "bias");
  if (dt == DType::f32)
    gn_fwd<float>(N, C, L, G, x, w, b, mean, rstd, y, eps);
  else
    gn_fwd<double>(N, C, L, G, x, w, b, mean, rstd, y, eps);
}

template <class T>
void gn_bwd(int64_t N, int64_t C, int64_t L, int64_t G, const py::array& dy, const py::array& x,
            const py::array& mean, const py::array& rstd, const std::optional<py::array>& w,
            std::optional<py::array>& dx, std::optional<py::array>& dw,
            std::optional<py::array>& db) {
  const T* gp = in_ptr<T>(dy, kGnB, "dy");
  const T* xp = in_ptr<T>(x, kGnB, "x");
  const T* mp = in_ptr<T>(mean, kGnB, "mean");
  const T* rp = in_ptr<T>(rstd, kGnB, "rstd");
  const T* wp = cptr<T>(w, kGnB, "weight");
  T* dxp = mptr<T>(dx, kGnB, "dx");
  T* dwp = mptr<T>(dw, kGnB, "dweight");
  T* dbp = mptr<T>(db, kGnB, "dbias");
  py::gil_scoped_release nogil;
  norm::group_norm_backward<T>(N, C, L, G, gp, xp, mp, rp, wp, dxp, dwp, dbp);
}

void group_norm_backward(const py::array& dy, const py::array& x, const py::array& mean,
                         const py::array& rstd, const py::object& w_o, const py::object& dx_o,
                         const py::object& dw_o, const py::object& db_o, int64_t G) {
  const DType dt = float_dtype(dy, kGnB, "dy");
  require_dtype(x, dt, kGnB, "x");
  require_dtype(mean, dt, kGnB, "mean");
  require_dtype(rstd, dt, kGnB, "rstd");
  int64_t N, C, L;
  ncl(x, N, C, L, kGnB);
  groups_ok(C, G, kGnB);
  require_size(dy, x.size(), kGnB, "dy");
  require_size(mean, N * G, kGnB, "mean");
  require_size(rstd, N * G, kGnB, "rstd");
  auto w = opt(w_o, dt, C, kGnB, "weight");
  auto dx = opt(dx_o, dt, x.size(), kGnB, "dx");
  auto dw = opt(dw_o, dt, C, kGnB, "dweight");
  auto db = opt(db_o, dt, C, kGnB, "dbias");
  if (dt == DType::f32)
    gn_bwd<float>(N, C, L, G, dy, x, mean, rstd, w, dx, dw, db);
  else
    gn_bwd<double>(N, C, L, G, dy, x, mean, rstd, w, dx, dw, db);
}

}  // namespace

void bind_norm(py::module_& m, py::list& kernels) {
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("running_mean"), py::arg("running_var"), py::arg("mean"),
        py::arg("rstd"), py::arg("y"), py::arg("momentum"), py::arg("eps"), py::arg("batch_stats"));
  m.def("batch_norm_backward", &batch_norm_backward, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("dx"), py::arg("dweight"), py::arg("dbias"),
        py::arg("batch_stats"));
  m.def("layer_norm_forward", &layer_norm_forward, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("mean"), py::arg("rstd"), py::arg("y"), py::arg("D"),
        py::arg("eps"));
  m.def("layer_norm_backward", &layer_norm_backward, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("dx"), py::arg("dweight"), py::arg("dbias"),
        py::arg("D"));
  m.def("group_norm_forward", &group_norm_forward, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("mean"), py::arg("rstd"), py::arg("y"), py::arg("G"),
        py::arg("eps"));
  m.def("group_norm_backward", &group_norm_backward, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("dx"), py::arg("dweight"), py::arg("dbias"),
        py::arg("G"));
  for (const char* k : {"batch_norm_forward", "batch_norm_backward", "layer_norm_forward",
                        "layer_norm_backward", "group_norm_forward", "group_norm_backward"})
    kernels.append(k);
}

}  // namespace bind
}  // namespace nervo
