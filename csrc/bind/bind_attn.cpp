// Bindings of the attention family: attn_forward / attn_backward (fused scaled-dot-product
// attention; contract in csrc/ops/attn/attn.h). q, k, v, out, dout are 4-D (B, N, len, dim);
// mask is None or an additive 4-D array whose dims are 1 or full.
#include <cmath>
#include <string>

#include "bind/common.h"
#include "ops/attn/attn.h"

namespace nervo {
namespace bind {

namespace {

constexpr const char* kFwd = "nervo.ops.scaled_dot_product_attention";
constexpr const char* kBwd = "nervo.ops.scaled_dot_product_attention_backward";

void require_4d(const py::array& a, const char* call, const char* arg) {
  if (a.ndim() != 4)
    throw std::invalid_argument(std::string(call) + ": " + arg + " must be 4-D (B, heads, length, dim), got shape " +
                                shape_str(a));
}

template <class T>
attn::Args<T> make_args(const py::array& q, const py::array& k, const py::array& v,
                        const py::object& mask, bool causal, double scale, double dropout_p,
                        uint64_t seed, DType dt, const char* call) {
  require_4d(q, call, "q");
  require_4d(k, call, "k");
  require_4d(v, call, "v");
  require_dtype(k, dt, call, "k");
  require_dtype(v, dt, call, "v");
  attn::Args<T> a{};
  a.B = q.shape(0);
  a.N = q.shape(1);
  a.L = q.shape(2);
  a.E = q.shape(3);
  a.S = k.shape(2);
  a.Ev = v.shape(3);
  if (k.shape(0) != a.B || k.shape(1) != a.N || k.shape(3) != a.E || v.shape(0) != a.B ||
      v.shape(1) != a.N || v.shape(2) != a.S)
    throw std::invalid_argument(std::string(call) + ": q " + shape_str(q) + ", k " + shape_str(k) +
                                ", v " + shape_str(v) + " do not fit together");
  if (!(dropout_p >= 0.0 && dropout_p < 1.0))
    throw std::invalid_argument(std::string(call) + ": dropout_p must be in [0, 1), got " + std::to_string(dropout_p));
  if (!std::isfinite(scale))
    throw std::invalid_argument(std::string(call) + ": scale must be finite");
  a.q = in_ptr<T>(q, call, "q");
  a.k = in_ptr<T>(k, call, "k");
  a.v = in_ptr<T>(v, call, "v");
  a.causal = causal;
  a.scale = scale;
  a.dropout_p = dropout_p;
  a.seed = seed;
  a.mB = a.mN = a.mL = a.mS = 1;
  if (!mask.is_none()) {
    py::array m = py::reinterpret_borrow<py::array>(mask);
    require_4d(m, call, "attn_mask");
    require_dtype(m, dt, call, "attn_mask");
    const int64_t full[4] = {a.B, a.N, a.L, a.S};
    for (int d = 0; d < 4; ++d)
      if (m.shape(d) != 1 && m.shape(d) != full[d])
        throw std::invalid_argument(std::string(call) + ": attn_mask shape " + shape_str(m) +
                                    " does not broadcast to (B, heads, L, S)");
    a.mB = m.shape(0);
    a.mN = m.shape(1);
    a.mL = m.shape(2);
    a.mS = m.shape(3);
    a.mask = in_ptr<T>(m, call, "attn_mask");
  }
  return a;
}

void attn_forward(const py::array& q, const py::array& k, const py::array& v,
                  const py::object& mask, bool causal, double scale, double dropout_p,
                  uint64_t seed, py::array& out, py::array& lse) {
  const DType dt = float_dtype(q, kFwd, "q");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    attn::Args<T> a = make_args<T>(q, k, v, mask, causal, scale, dropout_p, seed, dt, kFwd);
    require_dtype(out, dt, kFwd, "out");
    require_size(out, a.B * a.N * a.L * a.Ev, kFwd, "out");
    require_dtype(lse, dt, kFwd, "lse");
    require_size(lse, a.B * a.N * a.L, kFwd, "lse");
    T* op = out_ptr<T>(out, kFwd, "out");
    T* lp = out_ptr<T>(lse, kFwd, "lse");
    const attn::Kernels& kt = attn::kernels();
    py::gil_scoped_release nogil;
    if constexpr (std::is_same<T, float>::value) kt.forward_f32(a, op, lp);
    else kt.forward_f64(a, op, lp);
  };
  if (dt == DType::f32) run(float{}); else run(double{});
}

void attn_backward(const py::array& q, const py::array& k, const py::array& v,
                   const py::object& mask, bool causal, double scale, double dropout_p,
                   uint64_t seed, const py::array& out, const py::array& lse,
                   const py::array& dout, py::array& dq, py::array& dk, py::array& dv) {
  const DType dt = float_dtype(q, kBwd, "q");
  auto run = [&](auto tag) {
    using T = decltype(tag);
    attn::Args<T> a = make_args<T>(q, k, v, mask, causal, scale, dropout_p, seed, dt, kBwd);
    const py::ssize_t no = a.B * a.N * a.L * a.Ev;
    require_dtype(out, dt, kBwd, "out");
    require_size(out, no, kBwd, "out");
    require_dtype(dout, dt, kBwd, "dout");
    require_size(dout, no, kBwd, "dout");
    require_dtype(lse, dt, kBwd, "lse");
    require_size(lse, a.B * a.N * a.L, kBwd, "lse");
    require_dtype(dq, dt, kBwd, "dq");
    require_size(dq, q.size(), kBwd, "dq");
    require_dtype(dk, dt, kBwd, "dk");
    require_size(dk, k.size(), kBwd, "dk");
    require_dtype(dv, dt, kBwd, "dv");
    require_size(dv, v.size(), kBwd, "dv");
    const T* op = in_ptr<T>(out, kBwd, "out");
    const T* lp = in_ptr<T>(lse, kBwd, "lse");
    const T* gp = in_ptr<T>(dout, kBwd, "dout");
    T* dqp = out_ptr<T>(dq, kBwd, "dq");
    T* dkp = out_ptr<T>(dk, kBwd, "dk");
    T* dvp = out_ptr<T>(dv, kBwd, "dv");
    const attn::Kernels& kt = attn::kernels();
    py::gil_scoped_release nogil;
    if constexpr (std::is_same<T, float>::value) kt.backward_f32(a, op, lp, gp, dqp, dkp, dvp);
    else kt.backward_f64(a, op, lp, gp, dqp, dkp, dvp);
  };
  if (dt == DType::f32) run(float{}); else run(double{});
}

}  // namespace

void bind_attn(py::module_& m, py::list& kernels) {
  m.def("attn_forward", &attn_forward, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask").none(true), py::arg("causal"), py::arg("scale"), py::arg("dropout_p"),
        py::arg("seed"), py::arg("out"), py::arg("lse"));
  m.def("attn_backward", &attn_backward, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask").none(true), py::arg("causal"), py::arg("scale"), py::arg("dropout_p"),
        py::arg("seed"), py::arg("out"), py::arg("lse"), py::arg("dout"), py::arg("dq"),
        py::arg("dk"), py::arg("dv"));
  kernels.append("attn_forward");
  kernels.append("attn_backward");
}

}  // namespace bind
}  // namespace nervo
