// Bindings of the embedding family: embedding_forward / embedding_backward.
#include "bind/optional.h"
#include "ops/embed/embed.h"

namespace nervo {
namespace bind {

namespace {

void check_indices(const int64_t* idx, int64_t n, int64_t V, const char* call) {
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= V)
      throw py::index_error(std::string(call) + ": index " + std::to_string(idx[i]) + " at position " +
                            std::to_string(i) + " is out of range for " + std::to_string(V) +
                            " embeddings");
}

// embedding_forward(weight (V, D), idx (n,) int64, out (n, D)).
void embedding_forward(const py::array& weight, const py::array& idx, py::array& out) {
  const char* call = "nervo.ops.embedding";
  if (weight.ndim() != 2) throw std::invalid_argument(std::string(call) + ": weight must be 2-D (V, D)");
  const int64_t V = weight.shape(0), D = weight.shape(1), n = idx.size();
  const DType dt = float_dtype(weight, call, "weight");
  require_dtype(out, dt, call, "out");
  require_size(out, n * D, call, "out");
  const int64_t* ip = index_ptr(idx, call, "indices");
  check_indices(ip, n, V, call);
  if (dt == DType::f32) {
    const float* w = in_ptr<float>(weight, call, "weight");
    float* o = out_ptr<float>(out, call, "out");
    py::gil_scoped_release nogil;
    embed::forward<float>(w, ip, o, n, V, D);
  } else {
    const double* w = in_ptr<double>(weight, call, "weight");
    double* o = out_ptr<double>(out, call, "out");
    py::gil_scoped_release nogil;
    embed::forward<double>(w, ip, o, n, V, D);
  }
}

// embedding_backward(dout (n, D), idx (n,), dweight (V, D), padding_idx, accumulate).
void embedding_backward(const py::array& dout, const py::array& idx, py::array& dweight,
                        int64_t padding_idx, bool accumulate) {
  const char* call = "nervo.ops.embedding_backward";
  if (dweight.ndim() != 2) throw std::invalid_argument(std::string(call) + ": out must be 2-D (V, D)");
  const int64_t V = dweight.shape(0), D = dweight.shape(1), n = idx.size();
  const DType dt = float_dtype(dout, call, "dout");
  require_dtype(dweight, dt, call, "out");
  require_size(dout, n * D, call, "dout");
  const int64_t* ip = index_ptr(idx, call, "indices");
  check_indices(ip, n, V, call);
  if (dt == DType::f32) {
    const float* g = in_ptr<float>(dout, call, "dout");
    float* o = out_ptr<float>(dweight, call, "out");
    py::gil_scoped_release nogil;
    embed::backward<float>(g, ip, o, n, V, D, padding_idx, accumulate);
  } else {
    const double* g = in_ptr<double>(dout, call, "dout");
    double* o = out_ptr<double>(dweight, call, "out");
    py::gil_scoped_release nogil;
    embed::backward<double>(g, ip, o, n, V, D, padding_idx, accumulate);
  }
}

}  // namespace

void bind_embed(py::module_& m, py::list& kernels) {
  m.def("embedding_forward", &embedding_forward, py::arg("weight"), py::arg("idx"), py::arg("out"));
  m.def("embedding_backward", &embedding_backward, py::arg("dout"), py::arg("idx"),
        py::arg("dweight"), py::arg("padding_idx"), py::arg("accumulate"));
  kernels.append("embedding_forward");
  kernels.append("embedding_backward");
}

}  // namespace bind
}  // namespace nervo
